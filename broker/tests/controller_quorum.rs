//! Three dedicated controllers (`process.roles=controller`) elect a leader of the metadata
//! quorum over their CONTROLLER listeners with Kafka's Raft (Vote, BeginQuorumEpoch, Fetch of
//! `__cluster_metadata`), and a broker-only node follows whichever leads. Killing the active
//! controller elects another in a new epoch; the broker's metadata changes reach the new
//! leader — topics created one by one across the kill each exist once, none acknowledged
//! lost; the killed controller comes back as a follower and catches up.

// Drives real binaries from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{CreateTopicsRequest, MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use support::quorum::{create_topic, describe_quorum, Quorum};
use support::{call, eventually, free_port, TestBroker};

fn topic_names(port: u16) -> Vec<String> {
    let response = call(port, 12, &MetadataRequest::default().with_topics(None));
    let mut names: Vec<String> =
        response.topics.iter().filter_map(|t| t.name.as_ref().map(|n| n.0.to_string())).collect();
    names.sort();
    names
}

/// Topics created one by one through the broker while the active controller is killed.
const LOAD_TOPICS: usize = 30;

#[test]
fn three_controllers_elect_a_leader_and_fail_over_when_it_dies() {
    let mut quorum = Quorum::start(1, &[]);
    let broker_port = quorum.brokers[&4].port;

    // One leader, which every voter's fetches have caught up with.
    let within = Duration::from_secs(20);
    let (old_leader, old_epoch, _, _) = quorum.wait_for_caught_up(&[1, 2, 3], &[1, 2, 3], within);

    // Metadata changes sent to the broker are forwarded to the active controller.
    assert_eq!(create_topic(broker_port, "before-failover"), 0);
    eventually(within, "the broker knows the topic", || {
        let names = topic_names(broker_port);
        (names.contains(&"before-failover".to_owned()), names)
    });

    // Topics created one after another, each retried until answered, across the kill below.
    let created = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let creator = {
        let created = created.clone();
        std::thread::spawn(move || {
            let mut acknowledged = Vec::new();
            for i in 0..LOAD_TOPICS {
                let name = format!("load-{i}");
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let answer = create_topic(broker_port, &name);
                    if answer == 0 {
                        acknowledged.push(name);
                        break;
                    }
                    // A retry of a creation whose answer was lost in the failover.
                    if answer == ResponseError::TopicAlreadyExists.code() {
                        break;
                    }
                    assert!(Instant::now() < deadline, "{name}: still {answer}");
                    std::thread::sleep(Duration::from_millis(50));
                }
                created.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            acknowledged
        })
    };
    eventually(within, "the creator under way", || {
        let n = created.load(std::sync::atomic::Ordering::Relaxed);
        (n >= 5, n)
    });

    // The active controller dies: the other two elect one of themselves in a later epoch.
    let killed_at = Instant::now();
    quorum.controllers.get_mut(&old_leader).unwrap().kill9();
    let running: Vec<i32> = (1..=3).filter(|id| *id != old_leader).collect();
    let mut second = None;
    eventually(within, "a new leader among the two left", || {
        second = quorum.leader(&running);
        let ok = second
            .as_ref()
            .is_some_and(|(id, epoch, _, _)| *id != old_leader && *epoch > old_epoch);
        (ok, second.clone())
    });
    let elected = killed_at.elapsed();
    let (new_leader, new_epoch, _, _) = second.unwrap();
    eprintln!("controller {new_leader} leads epoch {new_epoch}, {elected:?} after the kill");

    // Metadata changes work again, through the broker, and nothing committed was lost.
    let mut answer = -1;
    eventually(within, "CreateTopics succeeds after the failover", || {
        answer = create_topic(broker_port, "after-failover");
        let done = answer == 0 || answer == ResponseError::TopicAlreadyExists.code();
        (done, answer)
    });
    eprintln!("CreateTopics succeeded {:?} after the kill", killed_at.elapsed());
    eventually(within, "the broker knows both topics", || {
        let names = topic_names(broker_port);
        let ok =
            ["after-failover", "before-failover"].iter().all(|t| names.contains(&t.to_string()));
        (ok, names)
    });

    // Every topic of the load exists once, with its one partition; none acknowledged is lost.
    let acknowledged = creator.join().expect("the creator");
    eventually(within, "the broker knows every load topic", || {
        let names = topic_names(broker_port);
        let n = names.iter().filter(|n| n.starts_with("load-")).count();
        (n >= LOAD_TOPICS, n)
    });
    let response = call(broker_port, 12, &MetadataRequest::default().with_topics(None));
    let load: Vec<(String, usize)> = response
        .topics
        .iter()
        .filter_map(|t| Some((t.name.as_ref()?.0.to_string(), t.partitions.len())))
        .filter(|(name, _)| name.starts_with("load-"))
        .collect();
    let mut names: Vec<&String> = load.iter().map(|(name, _)| name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), LOAD_TOPICS, "each load topic once: {load:?}");
    assert!(load.iter().all(|(_, partitions)| *partitions == 1), "{load:?}");
    assert!(acknowledged.iter().all(|a| names.contains(&a)), "{acknowledged:?} vs {names:?}");
    let ids: std::collections::BTreeSet<_> = response.topics.iter().map(|t| t.topic_id).collect();
    assert_eq!(ids.len(), response.topics.len(), "a topic id given twice");

    // The killed controller restarts as a follower of the new leader and catches up.
    quorum.controllers.get_mut(&old_leader).unwrap().start_again();
    eventually(within, "the restarted controller caught up as a voter", || {
        let led = quorum.leader(&[1, 2, 3]);
        let ok = led.as_ref().is_some_and(|(id, epoch, hw, voters)| {
            *id == new_leader && *epoch == new_epoch && voters.get(&old_leader) >= Some(hw)
        });
        (ok, led)
    });

    // A graceful stop (SIGTERM): the leader resigns with EndQuorumEpoch and another voter
    // takes over in a later epoch, without waiting for a fetch timeout.
    quorum.controllers.get_mut(&new_leader).unwrap().stop();
    let log = quorum.controllers[&new_leader].log();
    assert!(log.contains("resigned the metadata quorum's leadership"), "{log}");
    let others: Vec<i32> = (1..=3).filter(|id| *id != new_leader).collect();
    eventually(within, "a leader after the graceful stop", || {
        let led = quorum.leader(&others);
        (led.as_ref().is_some_and(|(_, epoch, _, _)| *epoch > new_epoch), led)
    });
    quorum.controllers.get_mut(&new_leader).unwrap().start_again();
    let (current, _, _, _) = quorum.wait_for_caught_up(&[1, 2, 3], &[1, 2, 3], within);
    eventually(within, "CreateTopics through the broker reaches the current leader", || {
        let answer = create_topic(broker_port, "after-the-handover");
        (answer == 0 || answer == ResponseError::TopicAlreadyExists.code(), answer)
    });

    // Two voters gone: the one left cannot commit. A metadata change is not acknowledged —
    // NOT_CONTROLLER once the leader finds it has no majority and resigns — while the broker
    // keeps serving produce on the partition it leads.
    let followers: Vec<i32> = (1..=3).filter(|id| *id != current).collect();
    for id in &followers {
        quorum.controllers.get_mut(id).unwrap().kill9();
    }
    let asked = Instant::now();
    let answer = create_topic(broker_port, "without-a-majority");
    assert_eq!(answer, ResponseError::NotController.code(), "a change without a majority");
    eprintln!("CreateTopics without a majority answered in {:?}", asked.elapsed());
    // Refused by the leader's wait for a commit that cannot come, not by a stale route.
    let log = quorum.controllers[&current].log();
    assert!(log.contains("no response is sent"), "{log}");
    let values = vec!["still-served".to_owned()];
    let (error, _) =
        support::cluster::produce_batch(broker_port, "before-failover", 0, 1, 5000, &values);
    assert_eq!(error, 0, "produce while the quorum has no majority");

    // Restored: the quorum elects a leader again and metadata changes succeed.
    for id in &followers {
        quorum.controllers.get_mut(id).unwrap().start_again();
    }
    eventually(within, "CreateTopics succeeds once the quorum is back", || {
        let answer = create_topic(broker_port, "restored");
        let done = answer == 0 || answer == ResponseError::TopicAlreadyExists.code();
        (done, answer)
    });
}

/// Three combined nodes (`process.roles=broker,controller`), each a voter and a broker, as
/// Kafka's three-node quickstart runs them: the brokers register with whichever voter leads;
/// an RF=3 topic keeps taking acks=all writes when the active controller's node dies, and
/// metadata changes work again once the other two elect a leader.
#[test]
fn three_combined_nodes_fail_over_their_controller_and_their_partitions() {
    let controller_ports: BTreeMap<i32, u16> = (1..=3).map(|id| (id, free_port())).collect();
    let voters: Vec<String> =
        controller_ports.iter().map(|(id, port)| format!("{id}@127.0.0.1:{port}")).collect();
    let cluster_id = kafka_lab_broker::kafka_uuid::encode_bytes(&[11; 16]);
    let common = [
        format!("controller.quorum.voters={}", voters.join(",")),
        "controller.listener.names=CONTROLLER".to_owned(),
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".into(),
        format!("cluster.id={cluster_id}"),
        "broker.heartbeat.interval.ms=200".into(),
        "broker.session.timeout.ms=2000".into(),
        "offsets.topic.replication.factor=3".into(),
    ];
    let mut nodes: BTreeMap<i32, TestBroker> = BTreeMap::new();
    for (id, port) in &controller_ports {
        let mut props = vec![format!("node.id={id}"), "process.roles=broker,controller".into()];
        props.extend(common.iter().cloned());
        let props: Vec<&str> = props.iter().map(String::as_str).collect();
        let node =
            TestBroker::start_with_listeners(&format!("CONTROLLER://127.0.0.1:{port}"), &props);
        nodes.insert(*id, node);
    }
    let within = Duration::from_secs(20);
    let broker_count = |port: u16| {
        call(port, 12, &MetadataRequest::default().with_topics(Some(Vec::new()))).brokers.len()
    };
    for node in nodes.values() {
        eventually(within, "every node lists three brokers", || {
            let n = broker_count(node.port);
            (n == 3, n)
        });
    }
    let led = |running: &[i32]| {
        running.iter().filter_map(|id| describe_quorum(controller_ports[id])).max_by_key(|l| l.1)
    };
    let (old_leader, old_epoch, _, _) = led(&[1, 2, 3]).expect("a leader");

    // An RF=3 topic with min.insync.replicas=2, created on a node that may not lead.
    let any = (1..=3).find(|id| *id != old_leader).unwrap();
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_static_str("replicated")))
        .with_num_partitions(1)
        .with_replication_factor(3)
        .with_configs(vec![
            kafka_protocol::messages::create_topics_request::CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("min.insync.replicas"))
                .with_value(Some(StrBytes::from_static_str("2"))),
        ]);
    let request = CreateTopicsRequest::default().with_topics(vec![topic]).with_timeout_ms(10_000);
    assert_eq!(call(nodes[&any].port, 7, &request).topics[0].error_code, 0);
    eventually(within, "the topic led with its full ISR", || {
        let p = support::cluster::partitions_on(nodes[&any].port, "replicated");
        (support::cluster::full_isr(&p, 1), p)
    });

    // The node that leads the quorum dies; writes to the topic go on through the survivors.
    nodes.get_mut(&old_leader).unwrap().kill9();
    let running: Vec<i32> = (1..=3).filter(|id| *id != old_leader).collect();
    // Until ten more are acknowledged: the partition's leader moves once the new active
    // controller fences the dead broker (its session runs from the election).
    let mut acknowledged = 0;
    let deadline = Instant::now() + within;
    while acknowledged < 10 {
        assert!(Instant::now() < deadline, "{acknowledged} writes acknowledged after the kill");
        let values = vec![format!("record-{acknowledged}")];
        let written = running.iter().any(|id| {
            let port = nodes[id].port;
            support::cluster::produce_batch(port, "replicated", 0, -1, 5000, &values).0 == 0
        });
        if written {
            acknowledged += 1;
        } else {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let mut after = None;
    eventually(within, "a new quorum leader among the survivors", || {
        after = led(&running);
        let ok =
            after.as_ref().is_some_and(|(id, epoch, _, _)| *id != old_leader && *epoch > old_epoch);
        (ok, after.clone())
    });
    let mut answer = -1;
    eventually(within, "CreateTopics succeeds after the controller failover", || {
        answer = create_topic(nodes[&running[0]].port, "after-failover");
        let done = answer == 0 || answer == ResponseError::TopicAlreadyExists.code();
        (done, answer)
    });
    // Asked of the partition's leader, whichever survivor it is.
    let end = running
        .iter()
        .map(|id| support::cluster::high_watermark(nodes[id].port, "replicated", 0))
        .find(|(error, _)| *error == 0)
        .map(|(_, end)| end);
    assert!(end >= Some(acknowledged), "{acknowledged} acknowledged, high watermark {end:?}");
}

/// Snapshots (KIP-630) on real processes: with a small snapshot threshold each controller
/// writes `<offset>-<epoch>.checkpoint` files into `__cluster_metadata-0`; a controller killed
/// and restarted loads its newest snapshot plus the log after it, rejoins the quorum, and the
/// topics the broker serves are all there.
#[test]
fn controllers_snapshot_the_metadata_image_and_restart_from_a_snapshot() {
    let mut quorum = Quorum::start(1, &["metadata.log.max.record.bytes.between.snapshots=500"]);
    let broker_port = quorum.brokers[&4].port;
    let within = Duration::from_secs(20);
    quorum.wait_for_caught_up(&[1, 2, 3], &[1, 2, 3], within);
    for i in 0..20 {
        eventually(within, "CreateTopics", || {
            let answer = create_topic(broker_port, &format!("snap-{i}"));
            (answer == 0 || answer == ResponseError::TopicAlreadyExists.code(), answer)
        });
    }
    let snapshots = |id: i32, quorum: &Quorum| -> Vec<String> {
        let dir = quorum.controllers[&id].data_dir().join("__cluster_metadata-0");
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".checkpoint"))
            .collect();
        names.sort();
        names
    };
    let (leader, _, _, _) = quorum.wait_for_caught_up(&[1, 2, 3], &[1, 2, 3], within);
    for id in 1..=3 {
        let names = snapshots(id, &quorum);
        assert!(!names.is_empty(), "controller {id}: {names:?}");
        assert!(names
            .iter()
            .all(|n| n.len() == "00000000000000000000-0000000000.checkpoint".len()));
    }

    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let newest = snapshots(follower, &quorum).pop().unwrap();
    let newest_offset: i64 = newest[..20].parse().unwrap();
    assert!(newest_offset > 0, "{newest}");
    quorum.controllers.get_mut(&follower).unwrap().kill9();
    assert_eq!(create_topic(broker_port, "while-one-is-down"), 0);
    quorum.controllers.get_mut(&follower).unwrap().start_again();
    quorum.wait_for_caught_up(&[1, 2, 3], &[1, 2, 3], within);
    let log = quorum.controllers[&follower].log();
    assert!(log.contains("loaded the metadata snapshot"), "{log}");

    // Its image is whole: once it leads, a topic created before its snapshot exists already.
    let mut led = quorum.wait_for_caught_up(&[1, 2, 3], &[1, 2, 3], within).0;
    for _ in 0..6 {
        if led == follower {
            break;
        }
        quorum.controllers.get_mut(&led).unwrap().stop();
        quorum.controllers.get_mut(&led).unwrap().start_again();
        led = quorum.wait_for_caught_up(&[1, 2, 3], &[1, 2, 3], within).0;
    }
    assert_eq!(led, follower, "the restarted controller never took the lead");
    let leader_port = quorum.controllers[&follower].port;
    eventually(within, "CreateTopics of an existing topic answered by the new leader", || {
        let answer = create_topic(leader_port, "snap-0");
        (answer == ResponseError::TopicAlreadyExists.code(), answer)
    });
    eventually(within, "the broker still knows every topic", || {
        let names = topic_names(broker_port);
        let n = names.iter().filter(|n| n.starts_with("snap-")).count();
        (n == 20 && names.contains(&"while-one-is-down".to_owned()), names)
    });
}

/// The snapshot files in node `dir`'s `__cluster_metadata-0`, oldest first.
fn snapshot_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("__cluster_metadata-0"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".checkpoint") && n.len() == 42)
        .collect();
    names.sort();
    names
}

/// KIP-630 end to end on real processes: with `metadata.max.retention.bytes` tiny, the leader
/// cleans its metadata log below its newest snapshot; a controller and a broker that were down
/// meanwhile restart below the leader's log start, are sent its snapshot id, fetch it with
/// FetchSnapshot, load it in place of their logs and continue with the tail — the broker then
/// serves every topic, including those created while it was down.
#[test]
fn nodes_behind_a_cleaned_log_catch_up_through_fetch_snapshot() {
    let mut quorum = Quorum::start(
        2,
        &["metadata.log.max.record.bytes.between.snapshots=300", "metadata.max.retention.bytes=1"],
    );
    let broker_port = quorum.brokers[&4].port;
    let within = Duration::from_secs(30);
    let (leader, _, hw_before, _) = quorum.wait_for_caught_up(&[1, 2, 3], &[1, 2, 3], within);
    assert_eq!(create_topic(broker_port, "before"), 0);
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    quorum.controllers.get_mut(&follower).unwrap().kill9();
    quorum.brokers.get_mut(&5).unwrap().kill9();
    let running: Vec<i32> = (1..=3).filter(|id| *id != follower).collect();
    for i in 0..30 {
        eventually(within, "CreateTopics", || {
            let answer = create_topic(broker_port, &format!("behind-{i}"));
            (answer == 0 || answer == ResponseError::TopicAlreadyExists.code(), answer)
        });
    }
    // The leader's log now starts at its one snapshot, past where the two stopped.
    let (leader, _, _, _) = quorum.wait_for_caught_up(&running, &running, within);
    let leader_dir = quorum.controllers[&leader].data_dir();
    eventually(within, "the leader cleaned its log below one snapshot", || {
        let names = snapshot_files(&leader_dir);
        let offset = names.first().map_or(0, |n| n[..20].parse::<i64>().unwrap());
        (names.len() == 1 && offset > hw_before + 10, names)
    });
    assert!(quorum.controllers[&leader]
        .log()
        .contains("cleaned the metadata log below a snapshot"));

    quorum.controllers.get_mut(&follower).unwrap().start_again();
    quorum.brokers.get_mut(&5).unwrap().start_again();
    quorum.wait_for_caught_up(&[1, 2, 3], &[1, 2, 3], within);
    let fetched = "loaded the metadata snapshot fetched from the quorum's leader";
    let controller_log = quorum.controllers[&follower].log();
    assert!(controller_log.contains(fetched), "{controller_log}");
    let broker5 = quorum.brokers[&5].port;
    eventually(within, "broker 5 serves every topic", || {
        let names = topic_names(broker5);
        let n = names.iter().filter(|n| n.starts_with("behind-")).count();
        (n == 30 && names.contains(&"before".to_owned()), names)
    });
    let broker_log = quorum.brokers[&5].log();
    assert!(broker_log.contains(fetched), "{broker_log}");
    // Both continue the log after the snapshot: a change made now reaches them.
    assert_eq!(create_topic(broker_port, "after"), 0);
    eventually(within, "broker 5 learns a topic created after it caught up", || {
        let names = topic_names(broker5);
        (names.contains(&"after".to_owned()), names)
    });
    let newest = snapshot_files(&quorum.controllers[&follower].data_dir());
    assert!(!newest.is_empty(), "the fetched snapshot is kept: {newest:?}");
}

/// FetchSnapshot (KIP-630) against the quorum's leader: read by position in small chunks, a
/// snapshot comes back byte for byte as the file on disk; a snapshot it does not have, a
/// position past the end and a stale or future epoch get Kafka's errors.
#[test]
fn fetch_snapshot_serves_the_leaders_snapshot_by_position() {
    use kafka_protocol::messages::fetch_snapshot_request::{
        PartitionSnapshot, SnapshotId, TopicSnapshot,
    };
    use kafka_protocol::messages::FetchSnapshotRequest;
    let node = TestBroker::start_with(&["metadata.log.max.record.bytes.between.snapshots=200"]);
    for i in 0..10 {
        assert_eq!(create_topic(node.port, &format!("fs-{i}")), 0);
    }
    let dir = node.data_dir().join("__cluster_metadata-0");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".checkpoint"))
        .collect();
    names.sort();
    let newest = names.pop().expect("a snapshot was written");
    let file = std::fs::read(dir.join(&newest)).unwrap();
    let (end_offset, epoch): (i64, i32) =
        (newest[..20].parse().unwrap(), newest[21..31].parse().unwrap());
    let (_, leader_epoch, _, _) = describe_quorum(node.port).expect("the node leads its quorum");
    let fetch = |snapshot: (i64, i32), epoch: i32, position: i64, max_bytes: i32| {
        let partition = PartitionSnapshot::default()
            .with_partition(0)
            .with_current_leader_epoch(epoch)
            .with_snapshot_id(
                SnapshotId::default().with_end_offset(snapshot.0).with_epoch(snapshot.1),
            )
            .with_position(position);
        let request = FetchSnapshotRequest::default().with_max_bytes(max_bytes).with_topics(vec![
            TopicSnapshot::default()
                .with_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
                .with_partitions(vec![partition]),
        ]);
        let response = call(node.port, 1, &request);
        assert_eq!(response.error_code, 0);
        response.topics[0].partitions[0].clone()
    };
    let mut read = Vec::new();
    while read.len() < file.len() {
        let chunk = fetch((end_offset, epoch), leader_epoch, read.len() as i64, 333);
        assert_eq!((chunk.error_code, chunk.size), (0, file.len() as i64));
        assert!(!chunk.unaligned_records.is_empty() && chunk.unaligned_records.len() <= 333);
        read.extend_from_slice(&chunk.unaligned_records);
    }
    assert_eq!(read, file, "the snapshot byte for byte");

    let code =
        |p: kafka_protocol::messages::fetch_snapshot_response::PartitionSnapshot| p.error_code;
    let past = file.len() as i64;
    assert_eq!(
        code(fetch((end_offset, epoch), leader_epoch, past, 333)),
        ResponseError::PositionOutOfRange.code()
    );
    assert_eq!(
        code(fetch((end_offset + 1, epoch), leader_epoch, 0, 333)),
        ResponseError::SnapshotNotFound.code()
    );
    assert_eq!(
        code(fetch((end_offset, epoch), leader_epoch - 1, 0, 333)),
        ResponseError::FencedLeaderEpoch.code()
    );
    assert_eq!(
        code(fetch((end_offset, epoch), leader_epoch + 1, 0, 333)),
        ResponseError::UnknownLeaderEpoch.code()
    );
}
