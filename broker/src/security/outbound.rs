//! How this node secures the connections it opens to other nodes, as Kafka's brokers do: to
//! other brokers on the inter-broker listener (`inter.broker.listener.name`, or
//! `security.inter.broker.protocol`), to the controllers on the first of
//! `controller.listener.names`. The listener's protocol (`listener.security.protocol.map`) says
//! whether TLS wraps the stream ([`TlsConnector`]) and whether SASL follows, with
//! `sasl.mechanism.inter.broker.protocol` / `sasl.mechanism.controller.protocol` and the
//! `username`/`password` of `listener.name.<listener>.<mechanism>.sasl.jaas.config`.
//!
//! Everything that cannot work is refused when the node starts, with the property to set;
//! `network::secure` runs the handshakes on each new connection.

use super::credentials::ScramMechanism;
use super::jaas::parse_jaas_config;
use super::sasl::Mechanism;
use super::tls::TlsConnector;
use crate::config::{BrokerConfig, SecurityProtocol};

/// The security of the connections to one listener of other nodes.
pub struct OutboundSecurity {
    /// The listener connected to (its name, as the other nodes configure it).
    pub listener: String,
    /// The listener's security protocol.
    pub protocol: SecurityProtocol,
    /// The client side of TLS, on SSL and SASL_SSL.
    pub tls: Option<TlsConnector>,
    /// The SASL mechanism and credentials, on SASL_PLAINTEXT and SASL_SSL.
    pub sasl: Option<SaslClientConfig>,
}

/// The SASL identity a node presents to other nodes.
pub struct SaslClientConfig {
    /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    pub mechanism: Mechanism,
    /// The JAAS `username` option.
    pub username: String,
    /// The JAAS `password` option; never logged (this type has no `Debug`).
    pub password: String,
}

impl OutboundSecurity {
    /// Connections without TLS or SASL, to `listener` (the simulator's, and those of a node
    /// that never dials the listener).
    pub fn plaintext(listener: &str) -> Self {
        OutboundSecurity {
            listener: listener.to_owned(),
            protocol: SecurityProtocol::Plaintext,
            tls: None,
            sasl: None,
        }
    }

    /// Connections to other brokers' inter-broker listener (replica fetchers).
    pub fn inter_broker(config: &BrokerConfig) -> anyhow::Result<Self> {
        let listener = config.inter_broker_listener_name();
        let protocol = config.inter_broker_listener_protocol()?;
        let security = Self::for_listener(
            config,
            &listener,
            protocol,
            "sasl.mechanism.inter.broker.protocol",
            &config.sasl_mechanism_inter_broker_protocol,
        )?;
        if let Some(sasl) = &security.sasl {
            // Kafka's KafkaConfig check: the other brokers offer what this one asks for.
            anyhow::ensure!(
                config.sasl_mechanisms().iter().any(|m| m == sasl.mechanism.name()),
                "sasl.mechanism.inter.broker.protocol must be included in sasl.enabled.mechanisms \
                 when SASL is used for inter-broker communication ({} is not in `{}`)",
                sasl.mechanism.name(),
                config.sasl_enabled_mechanisms
            );
        }
        Ok(security)
    }

    /// Connections to the controllers' listener (registration, heartbeats, the metadata log,
    /// AlterPartition, forwarding).
    pub fn controller(config: &BrokerConfig) -> anyhow::Result<Self> {
        let listener = config.controller_listener_name();
        let protocol = config.controller_listener_protocol()?;
        Self::for_listener(
            config,
            &listener,
            protocol,
            "sasl.mechanism.controller.protocol",
            &config.sasl_mechanism_controller_protocol,
        )
    }

    fn for_listener(
        config: &BrokerConfig,
        listener: &str,
        protocol: SecurityProtocol,
        mechanism_property: &str,
        mechanism: &str,
    ) -> anyhow::Result<Self> {
        // The configuration's own checks before the stores' files are read.
        let sasl = if protocol.uses_sasl() {
            Some(sasl_client_config(config, listener, protocol, mechanism_property, mechanism)?)
        } else {
            None
        };
        let tls = if protocol.uses_tls() {
            Some(TlsConnector::from_config(config, listener)?)
        } else {
            None
        };
        Ok(OutboundSecurity { listener: listener.to_owned(), protocol, tls, sasl })
    }

    /// Whether connections need no handshake beyond TCP.
    pub fn is_plaintext(&self) -> bool {
        self.tls.is_none() && self.sasl.is_none()
    }
}

fn sasl_client_config(
    config: &BrokerConfig,
    listener: &str,
    protocol: SecurityProtocol,
    mechanism_property: &str,
    name: &str,
) -> anyhow::Result<SaslClientConfig> {
    let name = name.trim().to_ascii_uppercase();
    let mechanism = match Mechanism::parse(&name) {
        Some(mechanism) => mechanism,
        None => {
            let default = if name == "GSSAPI" { " (Kafka's default)" } else { "" };
            anyhow::bail!(
                "{mechanism_property} is {name}{default}, but listener {listener} ({protocol}) \
                 needs a SASL mechanism this broker supports for connections between nodes: \
                 set {mechanism_property} to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
            );
        }
    };
    let property = format!(
        "listener.name.{}.{}.sasl.jaas.config",
        listener.to_ascii_lowercase(),
        mechanism.name().to_ascii_lowercase()
    );
    let module = match mechanism {
        Mechanism::Plain => "org.apache.kafka.common.security.plain.PlainLoginModule",
        Mechanism::Scram(ScramMechanism::Sha256 | ScramMechanism::Sha512) => {
            "org.apache.kafka.common.security.scram.ScramLoginModule"
        }
    };
    let example = format!("{module} required username=\"<user>\" password=\"<password>\";");
    let text = config.listener_properties.get(&property).ok_or_else(|| {
        anyhow::anyhow!(
            "listener {listener} ({protocol}) uses SASL {}, so this node needs credentials for \
             its connections to other nodes: set {property} to `{example}`",
            mechanism.name()
        )
    })?;
    // Validated when the configuration loaded; a second parse cannot fail differently.
    let entry = parse_jaas_config(text).map_err(|why| anyhow::anyhow!("{property}: {why}"))?;
    let option = |name: &str| {
        entry.options.get(name).filter(|v| !v.is_empty()).cloned().ok_or_else(|| {
            anyhow::anyhow!(
                "{property} has no `{name}` option: this node authenticates with it to other \
                 nodes on listener {listener} (expected `{example}`)"
            )
        })
    };
    Ok(SaslClientConfig { mechanism, username: option("username")?, password: option("password")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A broker of a cluster whose inter-broker listener is INTERNAL and controller listener
    /// CONTROLLER, both mapped by `protocols`.
    fn config(protocols: &str, extra: &[&str]) -> anyhow::Result<BrokerConfig> {
        let mut overrides: Vec<String> = [
            "process.roles=broker",
            "node.id=2",
            "controller.quorum.voters=1@localhost:9093",
            "controller.listener.names=CONTROLLER",
            "listeners=INTERNAL://localhost:9094",
            "inter.broker.listener.name=INTERNAL",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        overrides.push(format!("listener.security.protocol.map={protocols}"));
        overrides.extend(extra.iter().map(|s| s.to_string()));
        Ok(BrokerConfig::load(None, &overrides)?)
    }

    fn refusal(result: anyhow::Result<OutboundSecurity>) -> String {
        match result {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    const SCRAM_JAAS: &str = "listener.name.internal.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"broker\" password=\"broker-secret\";";

    #[test]
    fn a_sasl_listener_without_a_supported_mechanism_is_refused_naming_the_property() {
        let c = config("INTERNAL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT", &[]).unwrap();
        let err = refusal(OutboundSecurity::inter_broker(&c));
        assert!(
            err.starts_with("sasl.mechanism.inter.broker.protocol is GSSAPI (Kafka's default), but listener INTERNAL (SASL_SSL)"),
            "{err}"
        );
        assert!(
            err.contains(
                "set sasl.mechanism.inter.broker.protocol to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
            ),
            "{err}"
        );
        let err = refusal(OutboundSecurity::controller(&c));
        assert!(err.starts_with("sasl.mechanism.controller.protocol is GSSAPI"), "{err}");
        assert!(err.contains("listener CONTROLLER (SASL_PLAINTEXT)"), "{err}");
        let c = config(
            "INTERNAL:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
            &["sasl.mechanism.inter.broker.protocol=OAUTHBEARER"],
        )
        .unwrap();
        let err = refusal(OutboundSecurity::inter_broker(&c));
        assert!(
            err.starts_with("sasl.mechanism.inter.broker.protocol is OAUTHBEARER, but"),
            "{err}"
        );
    }

    #[test]
    fn a_sasl_listener_without_credentials_is_refused_naming_the_jaas_property() {
        let c = config(
            "INTERNAL:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
            &["sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512"],
        )
        .unwrap();
        let err = refusal(OutboundSecurity::inter_broker(&c));
        assert!(err.contains("set listener.name.internal.scram-sha-512.sasl.jaas.config to `org.apache.kafka.common.security.scram.ScramLoginModule required username="), "{err}");
        let c = config(
            "INTERNAL:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
            &[
                "sasl.mechanism.inter.broker.protocol=PLAIN",
                "listener.name.internal.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_broker=\"s\";",
            ],
        )
        .unwrap();
        let err = refusal(OutboundSecurity::inter_broker(&c));
        assert!(
            err.starts_with(
                "listener.name.internal.plain.sasl.jaas.config has no `username` option"
            ),
            "{err}"
        );
        assert!(!err.contains("\"s\""), "no secret in the message: {err}");
    }

    #[test]
    fn a_mechanism_the_listeners_do_not_enable_is_refused_as_kafka_refuses_it() {
        let c = config(
            "INTERNAL:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
            &[
                "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
                "sasl.enabled.mechanisms=PLAIN",
                SCRAM_JAAS,
            ],
        )
        .unwrap();
        let err = refusal(OutboundSecurity::inter_broker(&c));
        assert!(err.starts_with("sasl.mechanism.inter.broker.protocol must be included in sasl.enabled.mechanisms when SASL is used for inter-broker communication"), "{err}");
    }

    #[test]
    fn a_tls_listener_without_a_truststore_is_refused_saying_what_to_set() {
        let c = config("INTERNAL:SSL,CONTROLLER:SSL", &[]).unwrap();
        let err = refusal(OutboundSecurity::controller(&c));
        assert!(err.starts_with("listener CONTROLLER uses TLS"), "{err}");
        assert!(
            err.contains(
                "set listener.name.controller.ssl.truststore.location or ssl.truststore.location"
            ),
            "{err}"
        );
        let err = refusal(OutboundSecurity::inter_broker(&c));
        assert!(err.contains("listener.name.internal.ssl.truststore.location"), "{err}");
    }

    #[test]
    fn plaintext_and_credentials_resolve() {
        let c = config("INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT", &[]).unwrap();
        assert!(OutboundSecurity::inter_broker(&c).unwrap().is_plaintext());
        assert!(OutboundSecurity::controller(&c).unwrap().is_plaintext());
        let c = config(
            "INTERNAL:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
            &["sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512", SCRAM_JAAS],
        )
        .unwrap();
        let security = OutboundSecurity::inter_broker(&c).unwrap();
        let sasl = security.sasl.expect("SASL");
        assert_eq!((sasl.mechanism.name(), sasl.username.as_str()), ("SCRAM-SHA-512", "broker"));
        assert_eq!(security.listener, "INTERNAL");
    }

    #[test]
    fn security_inter_broker_protocol_names_the_listener_and_excludes_the_listener_name() {
        let c = BrokerConfig::load(
            None,
            &["security.inter.broker.protocol=SSL".into(), "listeners=SSL://localhost:9092".into()],
        )
        .unwrap();
        assert_eq!(c.inter_broker_listener_name(), "SSL");
        assert_eq!(c.inter_broker_listener_protocol().unwrap(), SecurityProtocol::Ssl);
        let err = config(
            "INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
            &["security.inter.broker.protocol=PLAINTEXT"],
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("Only one of inter.broker.listener.name and security.inter.broker.protocol should be set."), "{err}");
    }
}
