//! The compose stacks in compose/: both pass `docker compose config` (or docker-compose v1's),
//! publish only the host ports their environment variables name, pin every public image, and
//! scrape by METRICS.md's conventions. With a Docker engine, compose/lab's own services (certs,
//! broker, users, acls, exporter) come up from images built here by scripts/build-image, and the
//! exporter reaches the SASL_SSL broker as the least-privilege user; compose/cluster's three
//! nodes form one cluster that replicates a topic with RF=3 and moves its leaders off a node
//! killed in its container. Skips, with a message, where no compose or no engine exists.

#[path = "../../exporter/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use kafka_lab_monitoring::repo_root;
use support::{exporter_binary, free_port, http_get, kafka_lab_binary, wait_until, Scrape};

/// Each stack and the environment variables that choose its published host ports.
const STACKS: &[(&str, &[&str])] = &[
    (
        "lab",
        &[
            "KAFKA_LAB_KAFKA_PORT",
            "KAFKA_LAB_METRICS_PORT",
            "KAFKA_LAB_EXPORTER_PORT",
            "KAFKA_LAB_PROMETHEUS_PORT",
            "KAFKA_LAB_GRAFANA_PORT",
        ],
    ),
    (
        "apache-kafka",
        &[
            "APACHE_KAFKA_1_PORT",
            "APACHE_KAFKA_2_PORT",
            "APACHE_KAFKA_3_PORT",
            "APACHE_KAFKA_EXPORTER_PORT",
            "APACHE_KAFKA_PROMETHEUS_PORT",
            "APACHE_KAFKA_GRAFANA_PORT",
        ],
    ),
    (
        "cluster",
        &[
            "KAFKA_LAB_CLUSTER_1_PORT",
            "KAFKA_LAB_CLUSTER_2_PORT",
            "KAFKA_LAB_CLUSTER_3_PORT",
            "KAFKA_LAB_CLUSTER_EXPORTER_PORT",
            "KAFKA_LAB_CLUSTER_PROMETHEUS_PORT",
            "KAFKA_LAB_CLUSTER_GRAFANA_PORT",
        ],
    ),
];

/// Images built on this machine by scripts/build-image; every other image is public.
const OUR_IMAGES: &[&str] = &["kafka-lab", "kafka-lag-exporter"];

/// The compose command line: `docker compose` (v2) if the plugin exists, else `docker-compose`.
fn compose_cli() -> Option<Vec<&'static str>> {
    [&["docker", "compose"][..], &["docker-compose"][..]].into_iter().find_map(|cli| {
        let out = Command::new(cli[0]).args(&cli[1..]).arg("version").output().ok()?;
        out.status.success().then(|| cli.to_vec())
    })
}

fn compose_file(stack: &str) -> PathBuf {
    repo_root().join("compose").join(stack).join("docker-compose.yml")
}

/// Runs compose on `file` with `env` set and every port variable of `STACKS` not in `env`
/// removed, so the developer's own environment cannot change what is tested.
fn compose(
    cli: &[&str],
    file: &Path,
    project: &str,
    env: &[(&str, String)],
    args: &[&str],
) -> Output {
    let mut cmd = Command::new(cli[0]);
    cmd.args(&cli[1..]).arg("-f").arg(file).args(["-p", project]).args(args);
    for (_, vars) in STACKS {
        for var in *vars {
            cmd.env_remove(var);
        }
    }
    cmd.envs(env.iter().map(|(k, v)| (*k, v)));
    cmd.output().unwrap_or_else(|e| panic!("running {cli:?}: {e}"))
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn stacks_pass_compose_config_with_pinned_images_and_configurable_ports() {
    let Some(cli) = compose_cli() else {
        eprintln!(
            "SKIPPED compose config test: neither `docker compose` nor `docker-compose` runs"
        );
        return;
    };
    for (i, (stack, vars)) in STACKS.iter().enumerate() {
        let file = compose_file(stack);
        let out = compose(&cli, &file, "config-check", &[], &["config", "-q"]);
        assert!(out.status.success(), "{stack}: compose config -q failed:\n{}", text(&out));

        // Distinct ports nobody would pick by chance: each must appear as a published port.
        let env: Vec<(&str, String)> =
            vars.iter().enumerate().map(|(j, v)| (*v, format!("4{i}{j:03}"))).collect();
        let out = compose(&cli, &file, "config-check", &env, &["config"]);
        assert!(out.status.success(), "{stack}: compose config failed:\n{}", text(&out));
        let config: serde_yaml::Value = serde_yaml::from_slice(&out.stdout).unwrap();
        let published = published_ports(&config);
        let wanted: Vec<u16> = env.iter().map(|(_, p)| p.parse().unwrap()).collect();
        assert_eq!(
            published.iter().map(|(_, port)| *port).collect::<Vec<_>>(),
            {
                let mut w = wanted.clone();
                w.sort();
                w
            },
            "{stack}: published host ports {published:?} are not exactly those of {vars:?}"
        );

        // dashboards/provisioning's datasource takes Prometheus's address from Grafana's env.
        let grafana = &config["services"]["grafana"];
        assert_eq!(
            grafana["environment"]["PROMETHEUS_URL"].as_str(),
            Some("http://prometheus:9090"),
            "{stack}: Grafana's datasource must reach the stack's Prometheus"
        );
        assert!(config["services"].get("prometheus").is_some(), "{stack}: no prometheus");

        for (service, image) in images(&config) {
            if OUR_IMAGES.contains(&image.as_str()) {
                continue;
            }
            let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
            assert!(
                !tag.is_empty() && tag != "latest" && !tag.contains('/'),
                "{stack}: service {service} must pin its public image's version, has `{image}`"
            );
        }
    }
}

/// `(service, host port)` of every published port, sorted by port.
fn published_ports(config: &serde_yaml::Value) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    for (name, service) in config["services"].as_mapping().unwrap() {
        let name = name.as_str().unwrap().to_string();
        for port in service["ports"].as_sequence().into_iter().flatten() {
            // v2 renders the long syntax (`published`), v1 the short one (`ip:host:container`).
            let host = match port.get("published") {
                Some(p) => p.as_u64().map(|p| p.to_string()).or(p.as_str().map(str::to_owned)),
                None => port.as_str().and_then(|s| s.rsplit(':').nth(1).map(str::to_owned)),
            };
            let host = host.unwrap_or_else(|| panic!("{name}: unreadable port {port:?}"));
            out.push((name.clone(), host.parse().unwrap()));
        }
    }
    out.sort_by_key(|(_, p)| *p);
    out
}

fn images(config: &serde_yaml::Value) -> Vec<(String, String)> {
    config["services"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(name, s)| {
            let image = s["image"].as_str().unwrap_or_else(|| panic!("{name:?} has no image"));
            (name.as_str().unwrap().to_string(), image.to_string())
        })
        .collect()
}

/// METRICS.md's scrape conventions: job `kafka` carries the cluster's name (the one the stack's
/// lag exporter gives it) as a target label; job `kafka-lag-exporter` carries none.
#[test]
fn prometheus_configs_follow_the_scrape_conventions() {
    for (stack, _) in STACKS {
        let dir = repo_root().join("compose").join(stack);
        let read = |name: &str| -> serde_yaml::Value {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{stack}/{name}: {e}"))
        };
        let prometheus = read("prometheus.yml");
        let exporter = read("exporter.yaml");
        let cluster = exporter["clusters"][0]["name"].as_str().unwrap();
        assert_eq!(exporter["clusters"].as_sequence().unwrap().len(), 1, "{stack}: one cluster");

        let jobs: BTreeMap<&str, &serde_yaml::Value> = prometheus["scrape_configs"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|j| (j["job_name"].as_str().unwrap(), j))
            .collect();
        assert_eq!(jobs.keys().copied().collect::<Vec<_>>(), ["kafka", "kafka-lag-exporter"]);
        let groups = |job: &str| jobs[job]["static_configs"].as_sequence().unwrap().clone();
        for group in groups("kafka") {
            assert_eq!(group["labels"]["cluster"].as_str(), Some(cluster), "{stack}: job kafka");
            assert!(group["targets"].as_sequence().is_some_and(|t| !t.is_empty()));
        }
        for group in groups("kafka-lag-exporter") {
            assert!(group.get("labels").is_none(), "{stack}: the exporter's series carry cluster");
        }
        assert_eq!(
            prometheus["rule_files"][0].as_str(),
            Some("/etc/prometheus/alerts/*.yml"),
            "{stack}: alerts/ is mounted there"
        );

        // A real promtool agrees the file is a valid Prometheus configuration.
        match Command::new("promtool")
            .arg("check")
            .arg("config")
            .arg(dir.join("prometheus.yml"))
            .output()
        {
            Ok(out) => assert!(out.status.success(), "{stack}: promtool:\n{}", text(&out)),
            Err(_) => eprintln!("promtool not installed: {stack}/prometheus.yml not checked by it"),
        }
    }
}

/// A compose project brought down (`down -v`, volumes included) on drop, after printing its
/// logs if the test failed.
struct Project<'a> {
    cli: &'a [&'static str],
    file: PathBuf,
    name: String,
    env: Vec<(&'static str, String)>,
}

impl Project<'_> {
    fn run(&self, args: &[&str]) -> Output {
        compose(self.cli, &self.file, &self.name, &self.env, args)
    }

    fn logs(&self, service: &str) -> String {
        text(&self.run(&["logs", "--no-color", service]))
    }
}

impl Drop for Project<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", text(&self.run(&["ps"])));
            eprintln!("{}", text(&self.run(&["logs", "--no-color"])));
        }
        let out = self.run(&["down", "-v", "--remove-orphans"]);
        if !out.status.success() {
            eprintln!("compose down failed for project {}:\n{}", self.name, text(&out));
        }
    }
}

fn build_image(name: &str, binary: &Path) {
    let script = repo_root().join("scripts/build-image");
    let status = Command::new(script)
        .arg(name)
        .arg(binary)
        .env_remove("TAG")
        .status()
        .expect("running scripts/build-image");
    assert!(status.success(), "scripts/build-image {name} failed");
}

/// Our two images from the binaries this test run built (the exporter's is the one its Docker
/// test uses too), once for every test here: the stacks' tests run in parallel.
fn build_our_images() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        build_image("kafka-lab", &kafka_lab_binary());
        build_image("kafka-lag-exporter", &exporter_binary());
    });
}

#[test]
fn lab_stack_exporter_reaches_the_sasl_ssl_broker_as_least_privilege_user() {
    let Some(cli) = compose_cli() else {
        eprintln!("SKIPPED compose lab test: neither `docker compose` nor `docker-compose` runs");
        return;
    };
    if !Command::new("docker").arg("info").output().is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED compose lab test: no Docker engine answers `docker info`");
        return;
    }
    build_our_images();

    let (kafka, metrics, exporter) = (free_port(), free_port(), free_port());
    let project = Project {
        cli: &cli,
        file: compose_file("lab"),
        name: format!("kafkalab-compose-test-{}", std::process::id()),
        env: vec![
            ("KAFKA_LAB_KAFKA_PORT", kafka.to_string()),
            ("KAFKA_LAB_METRICS_PORT", metrics.to_string()),
            ("KAFKA_LAB_EXPORTER_PORT", exporter.to_string()),
            ("KAFKA_LAB_POLL_INTERVAL", "1s".into()),
        ],
    };
    // Our services only: the exporter pulls in certs, broker, users and acls; Prometheus and
    // Grafana (public images, not pullable here) stay down.
    let up = project.run(&["up", "-d", "exporter"]);
    assert!(up.status.success(), "compose up failed:\n{}", text(&up));

    let up_series = [("cluster", "kafka-lab")];
    wait_until("the exporter has polled the broker", Duration::from_secs(180), || {
        http_get(exporter, "/metrics").is_some_and(|(status, body)| {
            status == 200
                && Scrape::parse(&body).value("kafka_lag_exporter_up", &up_series) == Some(1.0)
        })
    });
    let scrape = Scrape::parse(&http_get(exporter, "/metrics").unwrap().1);
    assert_eq!(scrape.value("kafka_brokers", &up_series), Some(1.0));

    // The broker's own metrics endpoint answers on its published port with METRICS.md's names.
    let (status, body) = http_get(metrics, "/metrics").expect("the broker's metrics port answers");
    assert_eq!(status, 200, "{body}");
    let broker = Scrape::parse(&body);
    assert_eq!(broker.value("kafka_server_kafkaserver_brokerstate", &[]), Some(3.0), "RUNNING");

    // It authenticated as lag-exporter (SCRAM over SASL_SSL) and needed nothing beyond the ACLs
    // the acls service granted.
    let log = project.logs("broker");
    assert!(log.contains("authenticated principal=User:lag-exporter"), "{log}");
    let denied = log
        .lines()
        .filter(|l| l.contains("authorization denied") && l.contains("User:lag-exporter"))
        .count();
    assert_eq!(denied, 0, "the exporter needed more than Describe:\n{log}");
}

/// `kafka-lab ARGS` (the CLI this test run built) and its output; panics on failure.
fn kafka_lab(args: &[&str]) -> String {
    let out = Command::new(kafka_lab_binary()).args(args).output().expect("running kafka-lab");
    assert!(out.status.success(), "kafka-lab {args:?}:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn cluster_stack_replicates_over_three_containers_and_survives_a_killed_node() {
    let Some(cli) = compose_cli() else {
        eprintln!(
            "SKIPPED compose cluster test: neither `docker compose` nor `docker-compose` runs"
        );
        return;
    };
    if !Command::new("docker").arg("info").output().is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED compose cluster test: no Docker engine answers `docker info`");
        return;
    }
    build_our_images();

    let ports = [free_port(), free_port(), free_port()];
    let exporter = free_port();
    let project = Project {
        cli: &cli,
        file: compose_file("cluster"),
        name: format!("kafkalab-cluster-test-{}", std::process::id()),
        env: vec![
            ("KAFKA_LAB_CLUSTER_1_PORT", ports[0].to_string()),
            ("KAFKA_LAB_CLUSTER_2_PORT", ports[1].to_string()),
            ("KAFKA_LAB_CLUSTER_3_PORT", ports[2].to_string()),
            ("KAFKA_LAB_CLUSTER_EXPORTER_PORT", exporter.to_string()),
            ("KAFKA_LAB_POLL_INTERVAL", "1s".into()),
        ],
    };
    // Our services only (the exporter pulls in the three nodes); Prometheus and Grafana are
    // public images, not pullable here.
    let up = project.run(&["up", "-d", "exporter"]);
    assert!(up.status.success(), "compose up failed:\n{}", text(&up));

    // The exporter, inside the compose network, sees one cluster of three brokers.
    let up_series = [("cluster", "kafka-lab-cluster")];
    wait_until("the exporter sees three brokers", Duration::from_secs(180), || {
        http_get(exporter, "/metrics").is_some_and(|(status, body)| {
            status == 200 && Scrape::parse(&body).value("kafka_brokers", &up_series) == Some(3.0)
        })
    });

    // From the host, through each node's published EXTERNAL listener: a topic with RF=3.
    let bootstrap = ports.map(|p| format!("127.0.0.1:{p}")).join(",");
    let create = ["topics", "--bootstrap-server", &bootstrap, "--create", "--topic", "orders"];
    kafka_lab(&[&create[..], &["--partitions", "3", "--replication-factor", "3"]].concat());
    let describe = ["topics", "--bootstrap-server", &bootstrap, "--describe", "--topic", "orders"];
    // `\tTopic: orders\tPartition: 0\tLeader: 1\tReplicas: 1,2,3\tIsr: 1,2,3\tElr: …`
    let field = |line: &str, name: &str| -> String {
        let value = line.split(&format!("{name}: ")).nth(1).unwrap_or("");
        value.split_whitespace().next().unwrap_or("").to_owned()
    };
    let partition_lines = |out: &str| -> Vec<String> {
        out.lines().filter(|l| l.contains("\tIsr: ")).map(str::to_owned).collect()
    };
    let full_isr = |out: &str| {
        let lines = partition_lines(out);
        lines.len() == 3 && lines.iter().all(|l| field(l, "Isr").split(',').count() == 3)
    };
    wait_until("every partition has three replicas in sync", Duration::from_secs(60), || {
        full_isr(&kafka_lab(&describe))
    });

    // One node SIGKILLed: after its session expires its leaderships move and the ISR shrinks.
    let kill = project.run(&["kill", "node-3"]);
    assert!(kill.status.success(), "compose kill failed:\n{}", text(&kill));
    let alive = format!("127.0.0.1:{},127.0.0.1:{}", ports[0], ports[1]);
    let describe = ["topics", "--bootstrap-server", &alive, "--describe", "--topic", "orders"];
    wait_until("node 3 out of every ISR and leading nothing", Duration::from_secs(60), || {
        let lines = partition_lines(&kafka_lab(&describe));
        lines.len() == 3
            && lines.iter().all(|l| {
                let (leader, isr) = (field(l, "Leader"), field(l, "Isr"));
                ["1", "2"].contains(&leader.as_str()) && (isr == "1,2" || isr == "2,1")
            })
    });
}
