//! Exercise `slow-consumer` against the real broker and the real lag exporter binary, with a
//! steady producer as `kafka-lab up`'s demo one (20 records/s to a 3-partition topic): the
//! checker fails on a fresh broker and on the slow consumer (200 ms per record), still fails
//! with four slow members (one of them idle: 3 partitions), and passes once two members take
//! 20 ms per record — the fix the reference solution names.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kafka_lab_admin::topics::NewTopic;
use kafka_lab_exercises::exercises::slow_consumer;
use kafka_lab_exercises::member::Members;
use kafka_lab_exercises::{ClusterLab, Phase, Report};
use kafka_lab_testkit::{free_port, spawn_broker, workspace_binary};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

mod support;
use support::{assert_fails_mentioning, assert_fails_with, assert_passes};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn check(lab: &ClusterLab) -> Report {
    let report = slow_consumer::check(lab);
    eprintln!("---- check slow-consumer ----\n{report}");
    report
}

#[test]
fn slow_consumer() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let overrides = [
        format!("listeners=PLAINTEXT://127.0.0.1:{port}"),
        format!("log.dirs={}", dir.path().join("data").display()),
        "group.initial.rebalance.delay.ms=0".to_string(),
    ];
    let _broker = Killed(spawn_broker(&overrides, &dir.path().join("broker.log"), port));
    let bootstrap = format!("127.0.0.1:{port}");
    let exporter_port = free_port();
    let _exporter = Killed(
        Command::new(workspace_binary("kafka-lab-exporter", "kafka-lag-exporter"))
            .args(["--bootstrap-servers", &bootstrap, "--poll-interval", "1s"])
            .args(["--listen", &format!("127.0.0.1:{exporter_port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let lab = ClusterLab::new(&bootstrap, &format!("127.0.0.1:{exporter_port}"));
    assert_fails_with(
        &check(&lab),
        "topic demo-orders does not exist: start kafka-lab up: it creates demo-orders and writes 20 records/s to it",
    );

    // kafka-lab up's demo topic and producer.
    let new = NewTopic { name: "demo-orders".into(), partitions: Some(3), ..Default::default() };
    lab.admin().unwrap().create_topic(&new).unwrap().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (access, stop) = (lab.access(), stop.clone());
        std::thread::spawn(move || {
            let producer: BaseProducer = access.config().create().unwrap();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = (n % 97).to_string();
                let _ = producer.send(BaseRecord::to("demo-orders").key(&key).payload("order"));
                producer.poll(Duration::ZERO);
                n += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = producer.flush(Duration::from_secs(5));
        })
    };

    // The slow consumer: 5 records/s against 20.
    let access = lab.access();
    let slow = Duration::from_millis(200);
    let mut members = Members::start(&access, "orders-audit", "demo-orders", "audit", 1, slow);
    let mut report = Report::default();
    kafka_lab_testkit::wait_until(
        "the exporter reports the group",
        Duration::from_secs(30),
        || {
            report = check(&lab);
            report.mentions("reports kafka_consumergroup_group_sum_lag{group=\"orders-audit\"}")
        },
    );
    assert_fails_mentioning(&report, "group orders-audit falls behind: it committed ");
    assert_fails_mentioning(&report, "each of its 1 busy member(s) handles about ");

    // Four slow members on three partitions: one idles, and three are still too slow.
    for n in 2..=4 {
        members.add(&access, "orders-audit", "demo-orders", &format!("audit-{n}"), slow);
    }
    kafka_lab_testkit::wait_until("four members", Duration::from_secs(30), || {
        let mut groups = lab.groups().unwrap();
        let g = groups.describe_group("orders-audit").unwrap().unwrap();
        g.state == "Stable" && g.members.len() == 4
    });
    let report = check(&lab);
    assert!(report.mentions("of orders-audit have no partition: demo-orders has 3, so at most 3 members share the work"), "{report}");
    assert_fails_mentioning(&report, "each of its 3 busy member(s) handles about ");
    members.stop();

    // The fix the solution names: two members at 20 ms per record.
    let solution = kafka_lab_exercises::find_any("slow-consumer").map(|(_, _, e)| e).unwrap();
    let kafka_lab_exercises::Entry::Cluster(exercise) = solution else { unreachable!() };
    let actions = (exercise.solve)(&lab, Phase::Admin).unwrap().actions;
    assert!(actions[0].contains("--process-ms 20"), "{actions:?}");
    let fast = Members::start(
        &access,
        "orders-audit",
        "demo-orders",
        "audit",
        2,
        Duration::from_millis(20),
    );
    let mut report = Report::default();
    kafka_lab_testkit::wait_until("the group keeps up", Duration::from_secs(40), || {
        report = check(&lab);
        report.passed()
    });
    assert!(report.mentions("group orders-audit keeps up: it committed "), "{report}");
    assert_passes(&report);
    fast.stop();
    stop.store(true, Ordering::Relaxed);
    producer.join().unwrap();
}
