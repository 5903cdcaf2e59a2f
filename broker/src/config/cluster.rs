//! The KRaft settings of a node, with Kafka's names and Kafka's validation
//! (`KafkaConfig.validateValues`, `QuorumConfig`): `process.roles`, `controller.quorum.voters`,
//! `controller.quorum.bootstrap.servers`, `controller.listener.names`,
//! `inter.broker.listener.name`.
//!
//! Without `process.roles` a node is what this broker has always been: one combined node, the
//! only voter of its own quorum, which nothing reaches over a controller listener. Setting
//! `process.roles` asks for Kafka's rules in full, so a Kafka 4.1 `server.properties` is checked
//! as Kafka checks it.

use std::collections::BTreeMap;

use super::{ConfigError, Listener};

/// What a node does (Kafka's `ProcessRole`s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessRoles {
    /// Serves clients and hosts partition replicas.
    pub broker: bool,
    /// Is a voter of the metadata quorum.
    pub controller: bool,
}

/// One `controller.quorum.voters` entry: `{id}@{host}:{port}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    /// The controller's `node.id`.
    pub id: i32,
    /// Its controller listener's host.
    pub host: String,
    /// Its controller listener's port.
    pub port: u16,
}

/// Parsed `process.roles`: `broker`, `controller`, or both, comma-separated.
pub fn parse_process_roles(text: &str) -> Result<ProcessRoles, ConfigError> {
    let mut roles = ProcessRoles { broker: false, controller: false };
    for role in text.split(',').map(str::trim) {
        let slot = match role {
            "broker" => &mut roles.broker,
            "controller" => &mut roles.controller,
            other => {
                return Err(ConfigError::Invalid(format!(
                    "process.roles: unknown process role `{other}` (valid roles are broker and \
                     controller)"
                )))
            }
        };
        if *slot {
            return Err(ConfigError::Invalid(format!("process.roles: `{role}` is given twice")));
        }
        *slot = true;
    }
    Ok(roles)
}

/// Parsed `controller.quorum.voters`, in id order, with Kafka's messages for bad entries.
pub fn parse_voters(text: &str) -> Result<BTreeMap<i32, Voter>, ConfigError> {
    let form = "Each entry should be in the form `{id}@{host}:{port}`.";
    let invalid = |m: String| Err(ConfigError::Invalid(m));
    let mut voters = BTreeMap::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((id, address)) = entry.split_once('@') else {
            return invalid(format!(
                "Invalid configuration value for controller.quorum.voters. {form}"
            ));
        };
        let Ok(id) = id.parse::<i32>() else {
            return invalid(format!("Failed to parse voter ID as an integer from {id}"));
        };
        let Some((host, port)) = address.rsplit_once(':') else {
            return invalid(format!(
                "Failed to parse host name from entry {entry} for the \
                configuration controller.quorum.voters. {form}"
            ));
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return invalid(format!(
                "Failed to parse host name from entry {entry} for the \
                configuration controller.quorum.voters. {form}"
            ));
        }
        let Ok(port) = port.parse::<u16>() else {
            return invalid(format!(
                "Failed to parse host port from entry {entry} for the \
                configuration controller.quorum.voters. {form}"
            ));
        };
        if voters.insert(id, Voter { id, host: host.to_owned(), port }).is_some() {
            return invalid(format!("controller.quorum.voters: voter {id} is given twice"));
        }
    }
    Ok(voters)
}

/// Parsed `controller.quorum.bootstrap.servers`: `host:port` entries, comma-separated, with
/// Kafka's message for an entry without a port.
pub fn parse_bootstrap_servers(text: &str) -> Result<Vec<(String, u16)>, ConfigError> {
    text.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let parsed = entry.rsplit_once(':').and_then(|(host, port)| {
                let host = host.trim_start_matches('[').trim_end_matches(']');
                Some((host.to_owned(), port.parse::<u16>().ok()?)).filter(|(h, _)| !h.is_empty())
            });
            parsed.ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "Invalid url in controller.quorum.bootstrap.servers: {entry}"
                ))
            })
        })
        .collect()
}

/// Checks the KRaft settings against the listeners as Kafka 4.1 does, for a node whose
/// `process.roles` is set.
pub(super) fn validate(
    config: &super::BrokerConfig,
    roles: ProcessRoles,
    listeners: &[Listener],
    advertised: &[Listener],
) -> Result<(), ConfigError> {
    let require = |ok: bool, message: String| {
        if ok {
            Ok(())
        } else {
            Err(ConfigError::Invalid(message))
        }
    };
    let node_id = config.node_id;
    let voters = parse_voters(&config.controller_quorum_voters)?;
    parse_bootstrap_servers(&config.controller_quorum_bootstrap_servers)?;
    let voter_ids: Vec<i32> = voters.keys().copied().collect();
    let controller_names: Vec<&str> = config
        .controller_listener_names
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    let is_controller_listener = |l: &Listener| config.is_controller_listener(&l.name);
    require(
        !voters.is_empty() || !config.controller_quorum_bootstrap_servers.trim().is_empty(),
        "If using process.roles, either controller.quorum.bootstrap.servers must contain the set \
         of bootstrap controllers or controller.quorum.voters must contain a parseable set of \
         controllers."
            .into(),
    )?;
    if roles.controller {
        require(
            voters.is_empty() || voters.contains_key(&node_id),
            format!(
                "If process.roles contains the 'controller' role, the node id {node_id} must be \
                 included in the set of voters controller.quorum.voters={voter_ids:?}"
            ),
        )?;
        require(
            listeners.iter().any(is_controller_listener),
            "controller.listener.names must contain at least one value appearing in the \
             'listeners' configuration when running the KRaft controller role"
                .into(),
        )?;
        require(
            controller_names.iter().all(|n| listeners.iter().any(|l| l.name == *n)),
            "controller.listener.names must only contain values appearing in the 'listeners' \
             configuration when running the KRaft controller role"
                .into(),
        )?;
        if !roles.broker {
            require(
                listeners.iter().all(is_controller_listener),
                "The listeners config must only contain KRaft controller listeners from \
                 controller.listener.names when process.roles=controller"
                    .into(),
            )?;
        }
    } else {
        require(
            !voters.contains_key(&node_id),
            format!(
                "If process.roles contains just the 'broker' role, the node id {node_id} must \
                 not be included in the set of voters controller.quorum.voters={voter_ids:?}"
            ),
        )?;
        require(
            !controller_names.is_empty(),
            "controller.listener.names must contain at least one value when running KRaft with \
             just the broker role"
                .into(),
        )?;
        require(
            !listeners.iter().any(is_controller_listener),
            "controller.listener.names must not contain a value appearing in the 'listeners' \
             configuration when running KRaft with just the broker role"
                .into(),
        )?;
    }
    if roles.broker {
        let broker_listeners: Vec<&str> = advertised
            .iter()
            .filter(|l| !is_controller_listener(l))
            .map(|l| l.name.as_str())
            .collect();
        let mut message = "There must be at least one broker advertised listener.".to_owned();
        if roles.controller {
            message.push_str(" Perhaps all listeners appear in controller.listener.names?");
        }
        require(!broker_listeners.is_empty(), message)?;
        let inter_broker = config.inter_broker_listener_name();
        require(
            broker_listeners.contains(&inter_broker.as_str()),
            format!(
                "inter.broker.listener.name must be a listener name defined in \
                 advertised.listeners. The valid options based on currently configured listeners \
                 are {}",
                broker_listeners.join(",")
            ),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::BrokerConfig;
    use super::*;

    fn load(overrides: &[&str]) -> Result<BrokerConfig, String> {
        let overrides: Vec<String> = overrides.iter().map(|o| o.to_string()).collect();
        BrokerConfig::load(None, &overrides).map_err(|e| e.to_string())
    }

    /// A Kafka 4.1 combined node's `server.properties`, as the quickstart writes it.
    const COMBINED: &[&str] = &[
        "process.roles=broker,controller",
        "node.id=1",
        "controller.quorum.voters=1@localhost:9093",
        "listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    ];

    #[test]
    fn kafkas_combined_broker_and_controller_configurations_load() {
        let config = load(COMBINED).unwrap();
        assert_eq!(
            config.process_roles().unwrap(),
            ProcessRoles { broker: true, controller: true }
        );
        assert_eq!(config.inter_broker_listener_name(), "PLAINTEXT");
        let broker = [
            "process.roles=broker",
            "node.id=4",
            "controller.quorum.bootstrap.servers=localhost:9093",
            "controller.listener.names=CONTROLLER",
            "listeners=PLAINTEXT://localhost:9094",
        ];
        load(&broker).unwrap();
        let controller = [
            "process.roles=controller",
            "node.id=1",
            "controller.quorum.voters=1@localhost:9093,2@localhost:9095",
            "listeners=CONTROLLER://localhost:9093",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT",
        ];
        load(&controller).unwrap();
        // Unset: the single node this broker always was, whatever its listeners.
        let single = load(&["listeners=SASL_SSL://localhost:9092"]);
        assert!(single.is_ok_and(|c| c.process_roles().unwrap().controller));
    }

    #[test]
    fn what_kafka_refuses_is_refused_with_kafkas_message() {
        let with = |changes: &[&str]| {
            let mut all = COMBINED.to_vec();
            all.extend_from_slice(changes);
            load(&all).unwrap_err()
        };
        let cases: [(&[&str], &str); 9] = [
            (&["process.roles=broker,broker"], "`broker` is given twice"),
            (&["process.roles=zookeeper"], "unknown process role `zookeeper`"),
            (&["controller.quorum.voters=''"], "either controller.quorum.bootstrap.servers must"),
            (&["controller.quorum.voters=2@localhost:9093"], "the node id 1 must be included in the set of voters controller.quorum.voters=[2]"),
            (&["controller.quorum.voters=one@localhost:9093"], "Failed to parse voter ID as an integer from one"),
            (&["controller.quorum.voters=1@localhost"], "Failed to parse host name from entry 1@localhost"),
            (&["controller.quorum.voters=1localhost:9093"], "Each entry should be in the form `{id}@{host}:{port}`."),
            (&["controller.listener.names=CTRL"], "controller.listener.names must contain at least one value appearing in the 'listeners'"),
            (&["inter.broker.listener.name=CONTROLLER"], "inter.broker.listener.name must be a listener name defined in advertised.listeners. The valid options based on currently configured listeners are PLAINTEXT"),
        ];
        for (changes, expected) in cases {
            let err = with(changes);
            assert!(err.contains(expected), "{changes:?}: {err}");
        }
        let err = with(&["process.roles=broker"]);
        assert!(err.contains("the node id 1 must not be included"), "{err}");
        let err = with(&["process.roles=broker", "controller.quorum.voters=2@localhost:9093"]);
        assert!(err.contains("must not contain a value appearing in the 'listeners'"), "{err}");
        let err = with(&["process.roles=controller"]);
        assert!(err.contains("must only contain KRaft controller listeners"), "{err}");
        let err = with(&["listeners=CONTROLLER://localhost:9093"]);
        assert!(err.contains("There must be at least one broker advertised listener"), "{err}");
    }

    #[test]
    fn voters_parse_in_id_order() {
        let voters = parse_voters("3@c:9093, 1@[::1]:9093,2@b:19093").unwrap();
        let parsed: Vec<_> = voters.values().map(|v| (v.id, v.host.as_str(), v.port)).collect();
        assert_eq!(parsed, [(1, "::1", 9093), (2, "b", 19093), (3, "c", 9093)]);
        assert!(parse_voters("1@a:1,1@b:2").unwrap_err().to_string().contains("given twice"));
    }
}
