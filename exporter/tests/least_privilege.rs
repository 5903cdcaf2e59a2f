//! The exporter as a least-privilege user: over SASL_SSL (SCRAM-SHA-512, the broker's
//! certificate checked against the lab CA), as `User:lag-exporter` with only Describe on the
//! Cluster, on Group `*` and on Topic `*`, it reports exact lag; and the broker logs no
//! authorization denial for it. Before those ACLs exist it sees no topics and no groups (the
//! broker enforces them).

mod support;

use std::time::Duration;

use kafka_lab_admin::{AdminClient, ClientProperties};
use kafka_lab_broker::authorizer::{
    AclBinding, AclOperation, AclPermissionType, PatternType, ResourceType, CLUSTER_NAME,
};
use kafka_lab_tls::{CertificateAuthority, CertificateRequest, KeyAlgorithm};
use support::*;

const PASSWORD: &str = "lab-pass";

fn describe(resource_type: ResourceType, name: &str) -> AclBinding {
    AclBinding {
        resource_type,
        resource_name: name.into(),
        pattern_type: PatternType::Literal,
        principal: "User:lag-exporter".into(),
        host: "*".into(),
        operation: AclOperation::Describe,
        permission: AclPermissionType::Allow,
    }
}

#[test]
fn exact_lag_over_sasl_ssl_with_describe_only() {
    let sasl_ssl = free_port();
    let certs_dir = tempfile::tempdir().unwrap();
    let certs = certs_dir.path();
    let (ca, _) =
        CertificateAuthority::load_or_create(certs, "test CA", KeyAlgorithm::EcP256, 30, false)
            .unwrap();
    let request = CertificateRequest::localhost_broker(KeyAlgorithm::Rsa2048);
    ca.issue(certs, &request, PASSWORD, false).unwrap();
    // The PLAINTEXT listener's ANONYMOUS is the lab's super user: setup and ground truth.
    let broker = TestBroker::start_with(&[
        format!("listeners=SASL_SSL://127.0.0.1:{sasl_ssl}"),
        format!("ssl.keystore.location={}", certs.join("broker.p12").display()),
        format!("ssl.keystore.password={PASSWORD}"),
        "sasl.scram.users=['SCRAM-SHA-512=[name=lag-exporter,password=exporter-secret]']".into(),
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer".into(),
        "super.users=User:ANONYMOUS".into(),
    ]);
    let b = broker.bootstrap();
    create_topics(&b, &[("alpha", 2)]);
    produce(&b, "alpha", 0, 10);
    produce(&b, "alpha", 1, 20);
    commit(&b, "billing", &[("alpha", 0, 4), ("alpha", 1, 20)]);

    let config = broker.dir().join("exporter.yaml");
    std::fs::write(
        &config,
        format!(
            "clusters:\n  - name: lab\n    bootstrap_servers: 127.0.0.1:{sasl_ssl}\n    \
             properties:\n      security.protocol: SASL_SSL\n      sasl.mechanism: SCRAM-SHA-512\n      \
             sasl.username: lag-exporter\n      sasl.password: exporter-secret\n      \
             ssl.ca.location: {}\n",
            certs.join("ca.crt").display()
        ),
    )
    .unwrap();
    let exporter = TestExporter::start(&[
        "--config",
        &config.display().to_string(),
        "--poll-interval",
        "500ms",
        "--kafka-timeout",
        "3s",
    ]);
    let lag = |s: &Scrape, partition: &str| {
        s.value(
            "kafka_consumergroup_lag",
            &[
                ("cluster", "lab"),
                ("consumergroup", "billing"),
                ("topic", "alpha"),
                ("partition", partition),
            ],
        )
    };
    // Without ACLs the exporter sees no topics and no groups.
    std::thread::sleep(Duration::from_secs(2));
    let before = exporter.scrape();
    assert_eq!(lag(&before, "0"), None, "lag without any ACL");
    let partitions = [("cluster", "lab"), ("topic", "alpha")];
    assert_eq!(before.value("kafka_topic_partitions", &partitions), None, "topics leaked");
    // Lists are filtered silently (as Kafka does); a denial of anything else is logged.
    let denied = |log: String| {
        log.lines()
            .filter(|l| l.contains("authorization denied") && l.contains("User:lag-exporter"))
            .count()
    };

    let mut admin = AdminClient::connect(&b, &ClientProperties::plaintext()).unwrap();
    let acls = [
        describe(ResourceType::Cluster, CLUSTER_NAME),
        describe(ResourceType::Group, "*"),
        describe(ResourceType::Topic, "*"),
    ];
    assert!(admin.create_acls(&acls).unwrap().iter().all(Result::is_ok));

    wait_until("lag over SASL_SSL", Duration::from_secs(30), || {
        let s = exporter.scrape();
        lag(&s, "0") == Some(6.0) && lag(&s, "1") == Some(0.0)
    });
    let s = exporter.scrape();
    assert_eq!(s.value("kafka_lag_exporter_up", &[("cluster", "lab")]), Some(1.0));
    assert_eq!(
        s.value(
            "kafka_topic_partition_current_offset",
            &[("cluster", "lab"), ("topic", "alpha"), ("partition", "1")]
        ),
        Some(20.0)
    );
    // A few more polls with the ACLs in place; not one request of the exporter was denied.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        denied(broker.log()),
        0,
        "the exporter needed more than Describe:\n{}",
        broker.log()
    );
}
