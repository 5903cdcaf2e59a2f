//! The exercises, one module each, in course order, and what several of them share.

pub mod acls;
pub mod certificates;
pub mod consumer_groups;
pub mod partitions;
pub mod quotas;
pub mod replication;
pub mod slow_consumer;
pub mod tls_listener;
pub mod users;

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::cluster_lab::ClusterLab;
use crate::lab::BrokerYaml;
use crate::{Exercise, Lab, Report};

pub(crate) static ALL: &[Exercise] = &[
    Exercise {
        id: "certificates",
        title: "Certificates: a CA, a broker certificate, client certificates",
        steps: include_str!("../../steps/certificates.md"),
        steps_ru: include_str!("../../steps/ru/certificates.md"),
        check: certificates::check,
        solve: certificates::solve,
    },
    Exercise {
        id: "tls-listener",
        title: "TLS listener: encrypt client connections, require client certificates",
        steps: include_str!("../../steps/tls-listener.md"),
        steps_ru: include_str!("../../steps/ru/tls-listener.md"),
        check: tls_listener::check,
        solve: tls_listener::solve,
    },
    Exercise {
        id: "users",
        title: "Users: SASL/SCRAM authentication over SASL_SSL",
        steps: include_str!("../../steps/users.md"),
        steps_ru: include_str!("../../steps/ru/users.md"),
        check: users::check,
        solve: users::solve,
    },
    Exercise {
        id: "acls",
        title: "ACLs: who may read and write orders",
        steps: include_str!("../../steps/acls.md"),
        steps_ru: include_str!("../../steps/ru/acls.md"),
        check: acls::check,
        solve: acls::solve,
    },
    Exercise {
        id: "quotas",
        title: "Quotas: limit alice's produce rate",
        steps: include_str!("../../steps/quotas.md"),
        steps_ru: include_str!("../../steps/ru/quotas.md"),
        check: quotas::check,
        solve: quotas::solve,
    },
];

/// The exercises of course module 2 (topics, partitions, replication).
pub(crate) static MODULE_2: &[Exercise<ClusterLab>] = &[
    Exercise {
        id: "partitions",
        title: "Partitions and keys: 6 partitions, keyed records, retention",
        steps: include_str!("../../steps/partitions.md"),
        steps_ru: include_str!("../../steps/ru/partitions.md"),
        check: partitions::check,
        solve: partitions::solve,
    },
    Exercise {
        id: "replication",
        title: "Replication and failover: RF=3, min.insync.replicas=2, brokers down and back",
        steps: include_str!("../../steps/replication.md"),
        steps_ru: include_str!("../../steps/ru/replication.md"),
        check: replication::check,
        solve: replication::solve,
    },
];

/// The exercises of course module 4 (consumers and consumer groups).
pub(crate) static MODULE_4: &[Exercise<ClusterLab>] = &[Exercise {
    id: "consumer-groups",
    title: "Consumer groups: three members, rebalances, manual commits, lag, offset reset",
    steps: include_str!("../../steps/consumer-groups.md"),
    steps_ru: include_str!("../../steps/ru/consumer-groups.md"),
    check: consumer_groups::check,
    solve: consumer_groups::solve,
}];

/// The exercises of course module 10 (troubleshooting; its failover task is `replication`).
pub(crate) static MODULE_10: &[Exercise<ClusterLab>] = &[Exercise {
    id: "slow-consumer",
    title: "Troubleshooting: find a slow consumer from its lag and fix it",
    steps: include_str!("../../steps/slow-consumer.md"),
    steps_ru: include_str!("../../steps/ru/slow-consumer.md"),
    check: slow_consumer::check,
    solve: slow_consumer::solve,
}];

/// Polls `condition` every 200 ms for up to 30 s; an error from it ends the wait at once.
pub(crate) fn wait_for(
    what: &str,
    mut condition: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if condition()? {
            return Ok(());
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "gave up waiting for {what} after 30 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A checker's start: an empty report and broker.yaml as the learner wrote it. When broker.yaml
/// cannot be read there is nothing to check: the report that fails saying why.
pub(crate) fn start_check(lab: &Lab) -> Result<(Report, BrokerYaml), Report> {
    match lab.read_broker_yaml() {
        Ok(yaml) => Ok((Report::default(), yaml)),
        Err(e) => {
            let mut report = Report::default();
            report.fail_msg(format!("{e:#}"));
            Err(report)
        }
    }
}

/// Whether something accepts TCP connections on `address`; otherwise the check line that says
/// how to get the broker listening there.
pub(crate) fn reachable(report: &mut Report, lab: &Lab, listener: &str, address: &str) -> bool {
    let connected = address
        .to_socket_addrs()
        .ok()
        .into_iter()
        .flatten()
        .any(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(3)).is_ok());
    if !connected {
        report.fail(
            format!("nothing listens on {address} ({listener})"),
            format!(
                "add {listener}://{address} to listeners in {} and (re)start the broker: \
                 kafka-lab broker --config {}",
                lab.broker_yaml().display(),
                lab.broker_yaml().display()
            ),
        );
    }
    connected
}

/// The `listeners` entries of broker.yaml as (name, address).
pub(crate) fn listeners(yaml: &BrokerYaml) -> Vec<(String, String)> {
    yaml.get("listeners")
        .unwrap_or_default()
        .split(',')
        .filter_map(|entry| {
            let (name, address) = entry.trim().split_once("://")?;
            Some((name.to_owned(), address.to_owned()))
        })
        .collect()
}

/// Sets (or adds) the listener `name` to `address` in broker.yaml's `listeners`.
pub(crate) fn set_listener(yaml: &mut BrokerYaml, name: &str, address: &str) {
    let mut entries = listeners(yaml);
    match entries.iter_mut().find(|(n, _)| n == name) {
        Some(entry) => entry.1 = address.to_owned(),
        None => entries.push((name.to_owned(), address.to_owned())),
    }
    let text: Vec<String> = entries.iter().map(|(n, a)| format!("{n}://{a}")).collect();
    yaml.set("listeners", text.join(","));
}

/// Checks that broker.yaml declares listener `name` on `address`.
pub(crate) fn declares_listener(
    report: &mut Report,
    lab: &Lab,
    yaml: &BrokerYaml,
    name: &str,
    address: &str,
) -> bool {
    let found = listeners(yaml).into_iter().find(|(n, _)| n == name);
    match found {
        Some((_, a)) if a == address => {
            report.pass(format!("broker.yaml declares the {name} listener on {address}"));
            true
        }
        Some((_, a)) => {
            report.fail(
                format!("broker.yaml's {name} listener is on {a}, lab.yaml expects {address}"),
                format!("set {name}://{address} in listeners (or edit lab.yaml's listeners)"),
            );
            false
        }
        None => {
            report.fail(
                format!("broker.yaml has no {name} listener"),
                format!("add {name}://{address} to listeners in {}", lab.broker_yaml().display()),
            );
            false
        }
    }
}
