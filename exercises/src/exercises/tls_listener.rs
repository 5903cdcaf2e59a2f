//! Exercise `tls-listener` (with the course's "test the TLS connection"): an SSL listener with
//! the lab's broker certificate, TLS 1.2 or newer, client certificates required, certificate
//! subjects mapped to plain user names.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use openssl::ssl::{HandshakeError, SslConnector, SslFiletype, SslMethod, SslVersion};

use super::{certificates, declares_listener, reachable, set_listener, start_check};
use crate::client::{self, Access};
use crate::{Lab, Phase, Report, Solution};

/// The mapping rule the solution uses: `CN=alice,O=kafka-lab` becomes `User:alice`, the same
/// principal alice has over SASL, so one set of ACLs covers both.
pub const MAPPING_RULES: &str = "RULE:^CN=([^,]+),O=kafka-lab$/$1/,DEFAULT";

pub fn check(lab: &Lab) -> Report {
    let (mut report, yaml) = match start_check(lab) {
        Ok(started) => started,
        Err(failed) => return failed,
    };
    // orders: the topic alice may still write and read once ACLs are on.
    let topic = lab.config.topic.as_str();
    let ssl = &lab.config.listeners.ssl;
    declares_listener(&mut report, lab, &yaml, "SSL", ssl);
    match kafka_lab_broker::config::BrokerConfig::load(Some(&yaml.path), &[]) {
        Ok(_) => report.pass("broker.yaml is a valid broker configuration"),
        Err(e) => report.fail(
            format!("the broker rejects broker.yaml ({e})"),
            "fix that property; the broker will not start otherwise",
        ),
    }
    let auth = yaml.get("ssl.client.auth").unwrap_or_else(|| "none".into());
    report.expect(
        auth == "required",
        "ssl.client.auth is required: SSL clients must present a certificate",
        format!("ssl.client.auth is {auth}"),
        "set ssl.client.auth: required so the SSL listener refuses clients without a certificate",
    );
    let rules = yaml.get("ssl.principal.mapping.rules").unwrap_or_else(|| "DEFAULT".into());
    let alice_subject = kafka_lab_tls::certificate_subject(&lab.tls_file("alice.crt"))
        .unwrap_or_else(|_| "CN=alice,O=kafka-lab".into());
    let mapped = kafka_lab_broker::security::principal::PrincipalMapper::parse(&rules)
        .map(|m| m.map(&alice_subject));
    match mapped {
        Ok(Some(name)) if name == "alice" => report.pass(format!(
            "ssl.principal.mapping.rules maps {alice_subject} to User:alice"
        )),
        Ok(other) => report.fail(
            format!(
                "ssl.principal.mapping.rules maps alice's certificate ({alice_subject}) to {}",
                other.map_or("no principal (connection refused)".into(), |n| format!("User:{n}"))
            ),
            format!("set ssl.principal.mapping.rules: '{MAPPING_RULES}' so it becomes User:alice, as over SASL"),
        ),
        Err(e) => report.fail(
            format!("ssl.principal.mapping.rules does not parse: {e}"),
            format!("use Kafka's syntax, e.g. '{MAPPING_RULES}'"),
        ),
    }

    // The running broker.
    if !reachable(&mut report, lab, "SSL", ssl) {
        return report;
    }
    match handshake(lab, None) {
        Ok((version, cipher)) => {
            let modern = matches!(version.as_str(), "TLSv1.2" | "TLSv1.3");
            report.expect(
                modern,
                format!(
                    "TLS handshake with {ssl}: {version} ({cipher}); the broker's certificate \
                     chains to tls/ca.crt and covers {}",
                    lab.config.host
                ),
                format!("the SSL listener negotiated {version}"),
                "set ssl.enabled.protocols: TLSv1.2,TLSv1.3",
            );
        }
        Err(e) => {
            report.fail_msg(e);
            return report;
        }
    }
    match handshake(lab, Some(SslVersion::TLS1_1)) {
        Ok((version, _)) => report.fail(
            format!("the SSL listener accepted a {version} handshake"),
            "set ssl.enabled.protocols: TLSv1.2,TLSv1.3 (TLS 1.0 and 1.1 are broken)",
        ),
        Err(_) => report.pass("a client limited to TLS 1.1 is refused"),
    }
    let alice = Access::ssl(lab, Some("alice"));
    match client::produce(&alice, topic, 3, 100)
        .and_then(|()| client::consume(&alice, topic, None, 3).map(drop))
    {
        Ok(()) => report.pass(format!(
            "librdkafka with {} produced to and consumed from {topic}",
            alice.label
        )),
        Err(e) => report.fail(
            format!("librdkafka with {} failed: {e}", alice.label),
            "check ssl.keystore.location/password (tls/broker.p12) and ssl.truststore.location (tls/ca.crt)",
        ),
    }
    let anonymous = Access::ssl(lab, None);
    match client::metadata_error(&anonymous) {
        Some(_) => report.pass("a client without a certificate is refused on the SSL listener"),
        None => report.fail(
            "a client without a certificate was served on the SSL listener",
            "set ssl.client.auth: required and restart the broker",
        ),
    }
    let plaintext = Access::plaintext(lab).with("bootstrap.servers", ssl);
    match client::metadata_error(&plaintext) {
        Some(_) => report.pass(format!("a PLAINTEXT client gets nothing from the TLS port {ssl}")),
        None => report.fail(
            format!("a PLAINTEXT client was served on {ssl}"),
            format!("that port must be the SSL listener: SSL://{ssl} in listeners"),
        ),
    }
    report
}

/// A TLS handshake as OpenSSL's client does it, trusting the lab CA, checking the host name,
/// presenting alice's certificate; `max` caps the protocol version (and lowers OpenSSL's
/// security level so the cap, not the local policy, decides). Returns (version, cipher).
fn handshake(lab: &Lab, max: Option<SslVersion>) -> Result<(String, String), String> {
    let address = &lab.config.listeners.ssl;
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(|e| e.to_string())?;
    let ca = lab.tls_file("ca.crt");
    builder.set_ca_file(&ca).map_err(|e| {
        format!("{} cannot be loaded ({e}): do the certificates exercise first", ca.display())
    })?;
    let (cert, key) = (lab.tls_file("alice.crt"), lab.tls_file("alice.key"));
    builder
        .set_certificate_file(&cert, SslFiletype::PEM)
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    builder
        .set_private_key_file(&key, SslFiletype::PEM)
        .map_err(|e| format!("{}: {e}", key.display()))?;
    if let Some(max) = max {
        builder.set_security_level(0);
        builder.set_cipher_list("ALL:@SECLEVEL=0").map_err(|e| e.to_string())?;
        builder.set_min_proto_version(None).map_err(|e| e.to_string())?;
        builder.set_max_proto_version(Some(max)).map_err(|e| e.to_string())?;
    }
    let connector = builder.build();
    let addr = address
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("{address} does not resolve"))?;
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .map_err(|e| format!("cannot connect to {address}: {e}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    match connector.connect(&lab.config.host, tcp) {
        Ok(stream) => {
            let ssl = stream.ssl();
            let cipher = ssl.current_cipher().map_or("?", |c| c.name()).to_owned();
            Ok((ssl.version_str().to_owned(), cipher))
        }
        Err(HandshakeError::Failure(mid)) | Err(HandshakeError::WouldBlock(mid)) => {
            let verify = mid.ssl().verify_result();
            if verify.as_raw() != 0 {
                Err(format!(
                    "the broker's certificate on {address} failed verification against {}: {}: \
                     issue tls/broker.p12 from the lab CA with SANs covering {}, point \
                     ssl.keystore.location at it and restart the broker",
                    ca.display(),
                    verify.error_string(),
                    lab.config.host
                ))
            } else {
                Err(format!(
                    "TLS handshake with {address} failed ({}): is the listener on that port SSL \
                     (SSL://{address} in listeners)?",
                    mid.error()
                ))
            }
        }
        Err(HandshakeError::SetupFailure(e)) => Err(format!("TLS client set-up failed: {e}")),
    }
}

pub fn solve(lab: &Lab, phase: Phase) -> anyhow::Result<Solution> {
    let mut solution = Solution::default();
    if phase != Phase::Files {
        return Ok(solution);
    }
    if !certificates::check(lab).passed() {
        solution.actions.extend(certificates::solve(lab, Phase::Files)?.actions);
    }
    let mut yaml = lab.read_broker_yaml()?;
    set_listener(&mut yaml, "SSL", &lab.config.listeners.ssl);
    let tls = |file: &str| lab.tls_file(file).display().to_string();
    yaml.set("ssl.keystore.type", "PKCS12");
    yaml.set("ssl.keystore.location", tls("broker.p12"));
    yaml.set("ssl.keystore.password", lab.config.keystore_password.clone());
    yaml.set("ssl.truststore.type", "PEM");
    yaml.set("ssl.truststore.location", tls("ca.crt"));
    yaml.set("ssl.client.auth", "required");
    yaml.set("ssl.enabled.protocols", "TLSv1.2,TLSv1.3");
    yaml.set("ssl.principal.mapping.rules", MAPPING_RULES);
    solution.restart_broker = yaml.write()?;
    solution.actions.push(format!(
        "broker.yaml: SSL://{} with tls/broker.p12, truststore tls/ca.crt, ssl.client.auth required, \
         TLS 1.2+, principal mapping {MAPPING_RULES}",
        lab.config.listeners.ssl
    ));
    solution.restart_broker = true;
    Ok(solution)
}
