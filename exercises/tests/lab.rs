//! Every exercise end to end against the real broker binary: the checker fails on the starting
//! point with the precise message, the reference solution (with the broker restarted as a
//! learner would) makes it pass, and a broken variant is reported exactly.
//! The admin operations of `users`, `acls` and `quotas` go over the wire through
//! `kafka_lab_admin`, as `kafka-lab configs` and `kafka-lab acls` do.

mod support;

use kafka_lab_exercises::admin_ops::{self, AclBinding, ResourceType};
use kafka_lab_exercises::exercises::{acls, users};
use kafka_lab_tls::{
    CertificateAuthority, CertificateRequest, KeyAlgorithm, SubjectAltName, Usage,
};
use support::{assert_fails_mentioning, assert_fails_with, assert_passes, LabBroker};

fn reissue(
    lab: &kafka_lab_exercises::Lab,
    name: &str,
    sans: &[&str],
    usage: Usage,
    password: &str,
) {
    let ca = CertificateAuthority::load(&lab.tls_dir()).unwrap();
    let request = CertificateRequest {
        name: name.into(),
        common_name: name.into(),
        organizational_unit: None,
        subject_alt_names: sans.iter().map(|s| SubjectAltName::parse(s)).collect(),
        usage,
        key_algorithm: KeyAlgorithm::EcP256,
        valid_days: 30,
    };
    ca.issue(&lab.tls_dir(), &request, password, true).unwrap();
}

#[test]
fn lab_lists_the_exercises_in_course_order_with_steps() {
    let ids: Vec<&str> = kafka_lab_exercises::all().iter().map(|e| e.id).collect();
    assert_eq!(ids, ["certificates", "tls-listener", "users", "acls", "quotas"]);
    for exercise in kafka_lab_exercises::all() {
        assert!(exercise.steps.starts_with("# Exercise"), "{}", exercise.id);
        assert!(exercise.steps.contains(&format!("kafka-lab lab check {}", exercise.id)));
    }
    assert!(kafka_lab_exercises::find("nope").is_none());
}

#[test]
fn init_keeps_the_learners_work() {
    let lab = LabBroker::init();
    let yaml = lab.lab.broker_yaml();
    let text = std::fs::read_to_string(&yaml).unwrap();
    assert!(
        text.contains(&format!("listeners: PLAINTEXT://{}", lab.lab.config.listeners.plaintext))
    );
    std::fs::write(&yaml, "listeners: PLAINTEXT://127.0.0.1:1\n").unwrap();
    let ports = kafka_lab_exercises::Ports::default();
    let again = kafka_lab_exercises::Lab::init(&lab.lab.dir, "127.0.0.1", ports, false).unwrap();
    assert_eq!(again.config, lab.lab.config, "lab.yaml was rewritten");
    assert_eq!(std::fs::read_to_string(&yaml).unwrap(), "listeners: PLAINTEXT://127.0.0.1:1\n");
}

#[test]
fn certificates() {
    let lab = LabBroker::init();
    let tls = lab.lab.tls_dir();
    let report = lab.check("certificates");
    assert_fails_with(
        &report,
        &format!(
            "tls/ca.crt is missing: create the CA with `kafka-lab tls ca --dir {}`",
            tls.display()
        ),
    );

    (kafka_lab_exercises::find("certificates").unwrap().solve)(
        &lab.lab,
        kafka_lab_exercises::Phase::Files,
    )
    .unwrap();
    assert_passes(&lab.check("certificates"));

    // A broker certificate that forgets the address clients dial.
    reissue(&lab.lab, "broker", &["localhost"], Usage::Server, &lab.lab.config.keystore_password);
    assert_fails_with(
        &lab.check("certificates"),
        &format!(
            "the certificate {} does not cover host 127.0.0.1: its names are [DNS:localhost]; \
             re-issue it with --force and --dns/--ip including 127.0.0.1",
            tls.join("broker.crt").display()
        ),
    );
    // A client keystore under another password.
    reissue(&lab.lab, "alice", &[], Usage::Client, "other-password");
    assert_fails_with(
        &lab.check("certificates"),
        &format!(
            "{}: does not open with the keystore password; re-issue it with --force --password <the password>",
            tls.join("alice.p12").display()
        ),
    );
    // The solution repairs both.
    (kafka_lab_exercises::find("certificates").unwrap().solve)(
        &lab.lab,
        kafka_lab_exercises::Phase::Files,
    )
    .unwrap();
    assert_passes(&lab.check("certificates"));
}

#[test]
fn tls_listener() {
    let mut lab = LabBroker::init();
    (kafka_lab_exercises::find("certificates").unwrap().solve)(
        &lab.lab,
        kafka_lab_exercises::Phase::Files,
    )
    .unwrap();
    lab.start();
    let ssl = lab.lab.config.listeners.ssl.clone();
    let report = lab.check("tls-listener");
    assert_fails_with(
        &report,
        &format!(
            "broker.yaml has no SSL listener: add SSL://{ssl} to listeners in {}",
            lab.lab.broker_yaml().display()
        ),
    );
    assert_fails_mentioning(&report, &format!("nothing listens on {ssl} (SSL)"));

    lab.solve("tls-listener");
    let report = lab.check("tls-listener");
    assert_passes(&report);
    assert!(report.mentions("a client limited to TLS 1.1 is refused"), "{report}");

    // Client certificates only requested: anonymous TLS clients get in.
    lab.edit_broker_yaml(|yaml| yaml.set("ssl.client.auth", "requested"));
    lab.restart();
    let report = lab.check("tls-listener");
    assert_fails_with(
        &report,
        "a client without a certificate was served on the SSL listener: set ssl.client.auth: required and restart the broker",
    );
    assert_fails_with(
        &report,
        "ssl.client.auth is requested: set ssl.client.auth: required so the SSL listener refuses clients without a certificate",
    );

    // A broker certificate that does not cover the host clients dial.
    lab.edit_broker_yaml(|yaml| yaml.set("ssl.client.auth", "required"));
    reissue(&lab.lab, "broker", &["localhost"], Usage::Server, &lab.lab.config.keystore_password);
    lab.restart();
    assert_fails_mentioning(
        &lab.check("tls-listener"),
        &format!(
            "the broker's certificate on {ssl} failed verification against {}: IP address mismatch: issue tls/broker.p12 \
             from the lab CA with SANs covering 127.0.0.1",
            lab.lab.tls_file("ca.crt").display()
        ),
    );
}

#[test]
fn users() {
    let mut lab = LabBroker::init();
    (kafka_lab_exercises::find("tls-listener").unwrap().solve)(
        &lab.lab,
        kafka_lab_exercises::Phase::Files,
    )
    .unwrap();
    lab.start();
    let sasl_ssl = lab.lab.config.listeners.sasl_ssl.clone();
    assert_fails_with(
        &lab.check("users"),
        &format!(
            "broker.yaml has no SASL_SSL listener: add SASL_SSL://{sasl_ssl} to listeners in {}",
            lab.lab.broker_yaml().display()
        ),
    );

    lab.solve("users");
    assert_passes(&lab.check("users"));

    // SCRAM-SHA-512 switched off: bob (and the admin) can no longer log in.
    lab.edit_broker_yaml(|yaml| yaml.set("sasl.enabled.mechanisms", "SCRAM-SHA-256"));
    lab.restart();
    let report = lab.check("users");
    assert_fails_with(
        &report,
        "sasl.enabled.mechanisms (SCRAM-SHA-256) lacks SCRAM-SHA-512: set sasl.enabled.mechanisms: SCRAM-SHA-256,SCRAM-SHA-512",
    );
    assert_fails_mentioning(&report, "user bob cannot authenticate with SCRAM-SHA-512");
}

#[test]
fn acls() {
    let mut lab = LabBroker::init();
    lab.solve("users");
    let report = lab.check("acls");
    assert_fails_with(
        &report,
        "user bob can still write to topic orders: add a DENY or remove the ALLOW",
    );
    assert_fails_mentioning(&report, "authorizer.class.name is not set");

    lab.solve("acls");
    assert_passes(&lab.check("acls"));

    // An ALLOW Write for bob.
    let target = users::admin_target(&lab.lab);
    let bob_write = AclBinding::allow(ResourceType::Topic, "orders", "User:bob", "Write");
    admin_ops::create_acls(&target, &[bob_write]).unwrap();
    assert_fails_with(
        &lab.check("acls"),
        "user bob can still write to topic orders: add a DENY or remove the ALLOW",
    );
    // A DENY fixes it, as the message says.
    admin_ops::create_acls(
        &target,
        &[AclBinding::deny(ResourceType::Topic, "orders", "User:bob", "Write")],
    )
    .unwrap();
    assert_passes(&lab.check("acls"));
    // alice without her group.
    admin_ops::delete_acl(&target, &acls::bindings(&lab.lab)[2]).unwrap();
    assert_fails_mentioning(&lab.check("acls"), "user alice cannot use group orders-app");
}

#[test]
fn quotas() {
    let mut lab = LabBroker::init();
    lab.solve("acls");
    assert_fails_mentioning(&lab.check("quotas"), "set the quota: kafka-lab configs");

    lab.solve("quotas");
    assert_passes(&lab.check("quotas"));

    // A quota on bob too.
    admin_ops::set_user_quota(&users::admin_target(&lab.lab), "bob", "consumer_byte_rate", 65536.0)
        .unwrap();
    assert_fails_mentioning(&lab.check("quotas"), "user bob was throttled");
}
