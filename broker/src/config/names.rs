//! Property names the configuration does not declare: Kafka broker properties that have no
//! effect on this broker (accepted with a warning, so a Kafka `server.properties` carries over),
//! and "did you mean" suggestions for the rest (typos).

/// Apache Kafka 4.1 broker properties that this broker accepts and ignores, each with why
/// ignoring it is harmless here. An entry ending in `.` covers every property with that prefix.
///
/// Only properties whose absence changes nothing a client can observe belong here: thread
/// pools and socket buffers (requests run as tokio tasks, sockets keep the OS defaults),
/// replication on a single node, the log cleaner (compaction is refused), and tuning of
/// mechanisms this broker does not have. Properties that would change behaviour if ignored
/// (`log.cleanup.policy`, …) stay unknown and are refused.
pub const NO_EFFECT: &[(&str, &str)] = &[
    ("num.network.threads", THREADS),
    ("num.io.threads", THREADS),
    ("background.threads", THREADS),
    ("num.recovery.threads.per.data.dir", THREADS),
    ("num.replica.fetchers", SINGLE_NODE),
    ("num.replica.alter.log.dirs.threads", SINGLE_NODE),
    ("queued.max.requests", THREADS),
    ("socket.send.buffer.bytes", SOCKETS),
    ("socket.receive.buffer.bytes", SOCKETS),
    ("socket.listen.backlog.size", SOCKETS),
    ("log.cleaner.", CLEANER),
    ("transaction.state.log.replication.factor", SINGLE_NODE),
    ("transaction.state.log.min.isr", SINGLE_NODE),
    ("transaction.state.log.num.partitions", TRANSACTIONS),
    ("transaction.state.log.segment.bytes", TRANSACTIONS),
    ("replica.socket.receive.buffer.bytes", SINGLE_NODE),
    ("log.preallocate", STORAGE),
    ("log.segment.delete.delay.ms", STORAGE),
    ("log.flush.scheduler.interval.ms", STORAGE),
    ("log.flush.start.offset.checkpoint.interval.ms", STORAGE),
    ("offsets.load.buffer.size", STORAGE),
    ("offsets.topic.segment.bytes", STORAGE),
    ("offsets.topic.compression.codec", STORAGE),
    ("producer.purgatory.purge.interval.requests", PURGATORY),
    ("fetch.purgatory.purge.interval.requests", PURGATORY),
    ("delete.records.purgatory.purge.interval.requests", PURGATORY),
    ("max.incremental.fetch.session.cache.slots", FETCH_SESSIONS),
    ("metrics.num.samples", METRICS),
    ("metrics.sample.window.ms", METRICS),
    ("metrics.recording.level", METRICS),
    ("metric.reporters", METRICS),
];

const THREADS: &str = "requests run as tokio tasks, not on fixed thread pools";
const SOCKETS: &str = "sockets keep the operating system's buffer sizes and backlog";
const SINGLE_NODE: &str = "a single node, so every partition has exactly one replica";
const CLEANER: &str = "log compaction is not implemented (cleanup.policy=compact is refused)";
const TRANSACTIONS: &str = "transactions are not implemented, so there is no transaction log";
const STORAGE: &str = "the log and __consumer_offsets are stored without this tuning knob";
const PURGATORY: &str = "delayed requests are futures that clean up when they complete";
const FETCH_SESSIONS: &str = "fetch sessions are not implemented (every Fetch is a full fetch)";
const METRICS: &str =
    "metrics are served at prometheus.metrics.reporter.listener with fixed sampling";

/// Why `name` has no effect here, if it is one of [`NO_EFFECT`]'s properties.
pub fn no_effect_reason(name: &str) -> Option<&'static str> {
    NO_EFFECT
        .iter()
        .find(|(known, _)| {
            if known.ends_with('.') {
                name.starts_with(known) && name.len() > known.len()
            } else {
                name == *known
            }
        })
        .map(|(_, reason)| *reason)
}

/// The known name closest to `name` by edit distance, when it is close enough to be a typo
/// (at most a third of the name's length, and at most 3 edits).
pub fn suggestion<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).clamp(1, 3);
    known
        .into_iter()
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance (insertions, deletions and substitutions of one character).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("log.dir", "log.dirs"), 1);
        assert_eq!(edit_distance("node.idd", "node.id"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn typos_get_the_nearest_name_and_strangers_none() {
        let known = ["log.dirs", "log.retention.ms", "node.id", "num.partitions"];
        assert_eq!(suggestion("log.dir", known), Some("log.dirs"));
        assert_eq!(suggestion("num.partition", known), Some("num.partitions"));
        assert_eq!(suggestion("log.retention.mss", known), Some("log.retention.ms"));
        assert_eq!(suggestion("zookeeper.connect", known), None);
        assert_eq!(suggestion("x", known), None);
    }

    #[test]
    fn no_effect_names_match_exactly_or_by_prefix() {
        assert!(no_effect_reason("num.io.threads").is_some());
        assert!(no_effect_reason("log.cleaner.threads").is_some());
        assert!(no_effect_reason("log.cleaner.").is_none());
        assert!(no_effect_reason("num.io.threadz").is_none());
        assert!(no_effect_reason("log.cleanup.policy").is_none());
    }

    #[test]
    fn no_declared_property_is_listed_as_without_effect() {
        for name in crate::config::BrokerConfig::property_names() {
            assert!(no_effect_reason(&name).is_none(), "{name} is declared and listed");
        }
    }

    #[test]
    fn refusals_name_the_property_and_where_it_was_set() {
        use crate::config::BrokerConfig;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broker.yaml");
        std::fs::write(&path, "node.id: -1\nnum.io.threads: 8\n").unwrap();
        let err = BrokerConfig::load(Some(&path), &[]).unwrap_err().to_string();
        assert!(err.contains("node.id must be at least 0, got -1"), "{err}");
        assert!(err.contains(&format!("(in {})", path.display())), "{err}");
        // An override wins, and is named as the origin.
        let err = BrokerConfig::load(Some(&path), &["node.id=x".into()]).unwrap_err().to_string();
        assert!(err.contains("node.id: invalid type"), "{err}");
        assert!(err.contains("(in --override node.id=x)"), "{err}");
        std::fs::write(&path, "log.dir: /x\nlog.dirs.typo: 1\n").unwrap();
        let err = BrokerConfig::load(Some(&path), &[]).unwrap_err().to_string();
        assert!(err.contains("`log.dir` (did you mean `log.dirs`?)"), "{err}");
        assert!(err.contains("`log.dirs.typo`"), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
    }

    #[test]
    fn cluster_ids_and_jaas_configs_are_checked_as_kafka_reads_them() {
        use crate::config::BrokerConfig;
        let load = |o: &str| BrokerConfig::load(None, &[o.to_owned()]).map_err(|e| e.to_string());
        assert!(load("cluster.id=MkU3OEVBNTcwNTJENDM2Qg").is_ok());
        assert!(load("cluster.id=MkU3OEVBNTcwNTJENDM2Qg==").is_ok());
        for bad in [
            "garbage",
            "MkU3OEVBNTcwNTJENDM2Q",
            "MkU3OEVBNTcwNTJENDM2Qg+",
            "MkU3OEVBNTcwNTJENDM2Q/",
        ] {
            let err = load(&format!("cluster.id={bad}")).unwrap_err();
            assert!(err.contains("cluster.id") && err.contains("not a Kafka cluster id"), "{err}");
        }
        let jaas = "listener.name.sasl_plaintext.plain.sasl.jaas.config";
        let err = load(&format!("{jaas}=hello world")).unwrap_err();
        assert!(err.contains(jaas) && err.contains("control flag"), "{err}");
        assert!(!err.contains("hello"), "the value is a secret: {err}");
        let err = load("sasl.jaas.config=x required user_a=\"s3cret\"").unwrap_err();
        assert!(err.contains("sasl.jaas.config") && !err.contains("s3cret"), "{err}");
        assert!(load("sasl.jaas.config=x required user_a=\"s3cret\";").is_ok());
    }
}
