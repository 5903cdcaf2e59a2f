//! The lab directory: where the learner's work lives and what checkers connect to.
//!
//! ```text
//! security-lab/
//!   lab.yaml          where things are: listener addresses, users, the keystore password
//!   broker.yaml       the learner's broker configuration (Kafka property names)
//!   tls/              certificates from `kafka-lab tls` (ca.crt, broker.p12, alice.crt, …)
//!   *.properties      client configurations (`--command-config`, `kcat -F`)
//!   data/             the broker's log.dirs
//! ```

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// A SASL user of the lab, as `lab.yaml` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    /// `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: String,
    pub password: String,
}

/// The address of each listener the exercises use (`host:port`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listeners {
    #[serde(rename = "PLAINTEXT")]
    pub plaintext: String,
    #[serde(rename = "SSL")]
    pub ssl: String,
    #[serde(rename = "SASL_SSL")]
    pub sasl_ssl: String,
}

/// `lab.yaml`: written by `kafka-lab lab init`, read by every checker and solution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabConfig {
    /// The host clients dial on every listener; the broker certificate must cover it.
    pub host: String,
    /// Bootstrap address per listener.
    pub listeners: Listeners,
    /// Certificates, relative to the lab directory.
    pub tls_dir: PathBuf,
    /// Password of every PKCS#12 file (`ssl.keystore.password`).
    pub keystore_password: String,
    /// The super user that creates users, ACLs and quotas.
    pub admin: User,
    /// The users the exercises create: alice (reads and writes `orders`) and bob (reads only).
    pub users: Vec<User>,
    /// The topic the ACL and quota exercises are about.
    pub topic: String,
    /// The consumer group alice's application uses.
    pub group: String,
    /// alice's `producer_byte_rate` quota, bytes per second.
    pub producer_byte_rate: u64,
}

/// Ports for `kafka-lab lab init`.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub plaintext: u16,
    pub ssl: u16,
    pub sasl_ssl: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Ports { plaintext: 9092, ssl: 9093, sasl_ssl: 9094 }
    }
}

/// An initialised lab directory and its `lab.yaml`.
#[derive(Debug, Clone)]
pub struct Lab {
    /// Absolute path of the lab directory.
    pub dir: PathBuf,
    pub config: LabConfig,
}

impl Lab {
    /// Creates `dir` with `lab.yaml` and a PLAINTEXT-only `broker.yaml`. Existing files are kept
    /// unless `force`, so re-running `init` never throws away a learner's work.
    pub fn init(dir: &Path, host: &str, ports: Ports, force: bool) -> anyhow::Result<Lab> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir = dir.canonicalize().with_context(|| format!("resolving {}", dir.display()))?;
        let user = |name: &str, mechanism: &str| User {
            name: name.into(),
            mechanism: mechanism.into(),
            password: format!("{name}-secret"),
        };
        let config = LabConfig {
            host: host.into(),
            listeners: Listeners {
                plaintext: format!("{host}:{}", ports.plaintext),
                ssl: format!("{host}:{}", ports.ssl),
                sasl_ssl: format!("{host}:{}", ports.sasl_ssl),
            },
            tls_dir: "tls".into(),
            keystore_password: "changeit".into(),
            admin: user("admin", "SCRAM-SHA-512"),
            users: vec![user("alice", "SCRAM-SHA-256"), user("bob", "SCRAM-SHA-512")],
            topic: "orders".into(),
            group: "orders-app".into(),
            producer_byte_rate: 1_048_576,
        };
        let lab = Lab { dir, config };
        let lab_yaml = lab.dir.join("lab.yaml");
        if force || !lab_yaml.exists() {
            let text = format!(
                "# Written by `kafka-lab lab init`: where the exercises' checkers connect.\n{}",
                serde_yaml::to_string(&lab.config)?
            );
            write(&lab_yaml, &text)?;
        }
        let broker_yaml = lab.broker_yaml();
        if force || !broker_yaml.exists() {
            let text = format!(
                "# Your broker. Start it with:  kafka-lab broker --config {}\n\
                 # Property names are Apache Kafka's. Restart the broker after every change.\n\
                 node.id: 1\n\
                 listeners: PLAINTEXT://{}\n\
                 log.dirs: {}\n\
                 group.initial.rebalance.delay.ms: 0\n",
                broker_yaml.display(),
                lab.config.listeners.plaintext,
                lab.dir.join("data").display(),
            );
            write(&broker_yaml, &text)?;
        }
        Lab::open(&lab.dir)
    }

    /// Reads `dir/lab.yaml`.
    pub fn open(dir: &Path) -> anyhow::Result<Lab> {
        let path = dir.join("lab.yaml");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{} is missing: run `kafka-lab lab init --dir {}` first",
                path.display(),
                dir.display()
            )
        })?;
        let config: LabConfig = serde_yaml::from_str(&text)
            .with_context(|| format!("{} is invalid", path.display()))?;
        let dir = dir.canonicalize()?;
        Ok(Lab { dir, config })
    }

    /// The learner's broker configuration.
    pub fn broker_yaml(&self) -> PathBuf {
        self.dir.join("broker.yaml")
    }

    /// The certificate directory.
    pub fn tls_dir(&self) -> PathBuf {
        self.dir.join(&self.config.tls_dir)
    }

    /// A file in the certificate directory.
    pub fn tls_file(&self, name: &str) -> PathBuf {
        self.tls_dir().join(name)
    }

    /// The user named `name` (admin included).
    pub fn user(&self, name: &str) -> &User {
        std::iter::once(&self.config.admin)
            .chain(&self.config.users)
            .find(|u| u.name == name)
            .unwrap_or_else(|| panic!("lab.yaml has no user {name}"))
    }

    /// The client properties file of `user` (`admin.properties`, …).
    pub fn properties_file(&self, user: &str) -> PathBuf {
        self.dir.join(format!("{user}.properties"))
    }

    /// Reads `broker.yaml` as a mapping of property names to values.
    pub fn read_broker_yaml(&self) -> anyhow::Result<BrokerYaml> {
        BrokerYaml::read(&self.broker_yaml())
    }
}

/// `broker.yaml` as the learner wrote it: property names to YAML values, order kept.
#[derive(Debug, Clone)]
pub struct BrokerYaml {
    pub path: PathBuf,
    pub map: serde_yaml::Mapping,
}

impl BrokerYaml {
    /// Reads a YAML mapping (an empty file is an empty mapping).
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let value = match serde_yaml::from_str::<serde_yaml::Value>(&text) {
            Ok(value) => value,
            // A property written twice is named with its lines, as the broker names it.
            Err(e) => match kafka_lab_broker::config::duplicate_key(&text) {
                Some(duplicate) => anyhow::bail!("{}: {duplicate}", path.display()),
                None => {
                    return Err(e).with_context(|| format!("{} is not valid YAML", path.display()))
                }
            },
        };
        let map = match value {
            serde_yaml::Value::Mapping(map) => map,
            serde_yaml::Value::Null => serde_yaml::Mapping::new(),
            _ => anyhow::bail!("{}: expected a mapping of Kafka property names", path.display()),
        };
        Ok(BrokerYaml { path: path.to_path_buf(), map })
    }

    /// A property's value as text (numbers and booleans rendered as YAML writes them).
    pub fn get(&self, name: &str) -> Option<String> {
        match self.map.get(name)? {
            serde_yaml::Value::String(s) => Some(s.clone()),
            serde_yaml::Value::Null => None,
            other => Some(serde_yaml::to_string(other).ok()?.trim().to_owned()),
        }
    }

    /// Sets a property.
    pub fn set(&mut self, name: &str, value: impl Into<serde_yaml::Value>) {
        self.map.insert(serde_yaml::Value::String(name.into()), value.into());
    }

    /// Removes a property.
    pub fn remove(&mut self, name: &str) {
        self.map.remove(name);
    }

    /// Writes the file back, with a header saying how to start the broker. Returns whether a
    /// property changed (and so the broker must be restarted).
    pub fn write(&self) -> anyhow::Result<bool> {
        let before = BrokerYaml::read(&self.path).ok().map(|old| old.map);
        if before.as_ref() == Some(&self.map) {
            return Ok(false);
        }
        let text = format!(
            "# Your broker. Start it with:  kafka-lab broker --config {}\n\
             # Property names are Apache Kafka's. Restart the broker after every change.\n{}",
            self.path.display(),
            serde_yaml::to_string(&self.map)?
        );
        write(&self.path, &text)?;
        Ok(true)
    }
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::BrokerYaml;

    #[test]
    fn a_property_set_twice_is_named_with_both_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broker.yaml");
        std::fs::write(
            &path,
            "node.id: 1\nlisteners: PLAINTEXT://127.0.0.1:9092\nlisteners: SSL://127.0.0.1:9093\n",
        )
        .unwrap();
        let err = BrokerYaml::read(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: `listeners` is set twice, on line 2 and on line 3; keep one of them",
                path.display()
            )
        );
    }
}
