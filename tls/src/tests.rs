use super::*;

fn request(name: &str, usage: Usage, sans: &[&str]) -> CertificateRequest {
    CertificateRequest {
        name: name.to_string(),
        common_name: name.to_string(),
        organizational_unit: None,
        subject_alt_names: sans.iter().map(|s| SubjectAltName::parse(s)).collect(),
        usage,
        key_algorithm: KeyAlgorithm::Rsa2048,
        valid_days: 30,
    }
}

fn new_ca(dir: &Path, algorithm: KeyAlgorithm) -> CertificateAuthority {
    let (ca, created) =
        CertificateAuthority::load_or_create(dir, "test CA", algorithm, 30, false).unwrap();
    assert!(created);
    ca
}

#[test]
fn broker_certificate_chains_to_the_ca_and_covers_its_names_only() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca(dir.path(), KeyAlgorithm::Rsa2048);
    let files = ca
        .issue(
            dir.path(),
            &request("broker", Usage::Server, &["localhost", "*.kafka.lab", "127.0.0.1"]),
            "pw",
            false,
        )
        .unwrap();
    assert!(files.created);
    let ca_path = dir.path().join("ca.crt");
    for host in ["localhost", "LOCALHOST", "b1.kafka.lab", "127.0.0.1"] {
        verify(&files.cert, Some(&files.key), &ca_path, Some(host)).unwrap();
    }
    for host in ["example.com", "a.b1.kafka.lab", "kafka.lab", "127.0.0.2", "::1"] {
        let err = verify(&files.cert, None, &ca_path, Some(host)).unwrap_err();
        assert!(matches!(err, TlsError::HostNotCovered { .. }), "{host}: {err}");
        assert!(err.to_string().contains("DNS:localhost"), "{err}");
    }
    // The chain file holds the certificate followed by the CA.
    let chain = X509::stack_from_pem(&std::fs::read(&files.chain).unwrap()).unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[1].to_der().unwrap(), ca.cert.to_der().unwrap());
}

#[test]
fn pkcs12_opens_with_its_password_only_and_holds_key_cert_and_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca(dir.path(), KeyAlgorithm::EcP256);
    let mut alice = request("alice", Usage::Client, &[]);
    alice.key_algorithm = KeyAlgorithm::EcP256;
    let files = ca.issue(dir.path(), &alice, "s3cret", false).unwrap();
    let der = std::fs::read(&files.pkcs12).unwrap();
    let parsed = Pkcs12::from_der(&der).unwrap().parse2("s3cret").unwrap();
    let cert = parsed.cert.unwrap();
    assert!(cert.public_key().unwrap().public_eq(&parsed.pkey.unwrap()));
    assert_eq!(parsed.ca.unwrap().len(), 1);
    assert_eq!(rfc2253_subject(cert.subject_name()), "CN=alice,O=kafka-lab");
    assert!(Pkcs12::from_der(&der).unwrap().parse2("wrong").is_err());
    // Keys are for the owner's eyes only.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&files.key).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn valid_files_are_kept_and_force_replaces_them() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca(dir.path(), KeyAlgorithm::Rsa2048);
    let broker = request("broker", Usage::Server, &["localhost"]);
    ca.issue(dir.path(), &broker, "pw", false).unwrap();
    let before = std::fs::read(dir.path().join("broker.crt")).unwrap();

    let (ca, created) = CertificateAuthority::load_or_create(
        dir.path(),
        "test CA",
        KeyAlgorithm::Rsa2048,
        30,
        false,
    )
    .unwrap();
    assert!(!created);
    let kept = ca.issue(dir.path(), &broker, "pw", false).unwrap();
    assert!(!kept.created);
    assert_eq!(std::fs::read(dir.path().join("broker.crt")).unwrap(), before);

    // A request that names more than the existing certificate is not silently satisfied.
    let wider = request("broker", Usage::Server, &["localhost", "10.0.0.5"]);
    let err = ca.issue(dir.path(), &wider, "pw", false).unwrap_err();
    assert!(matches!(err, TlsError::Mismatch { .. }), "{err}");
    assert!(
        err.to_string().contains("IP:10.0.0.5") && err.to_string().contains("--force"),
        "{err}"
    );

    let replaced = ca.issue(dir.path(), &wider, "pw", true).unwrap();
    assert!(replaced.created);
    assert_ne!(std::fs::read(dir.path().join("broker.crt")).unwrap(), before);
    verify(&replaced.cert, Some(&replaced.key), &dir.path().join("ca.crt"), Some("10.0.0.5"))
        .unwrap();
}

#[test]
fn a_key_from_another_certificate_is_reported_as_a_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca(dir.path(), KeyAlgorithm::Rsa2048);
    let alice = ca.issue(dir.path(), &request("alice", Usage::Client, &[]), "pw", false).unwrap();
    let bob = ca.issue(dir.path(), &request("bob", Usage::Client, &[]), "pw", false).unwrap();
    let err = verify(&alice.cert, Some(&bob.key), &dir.path().join("ca.crt"), None).unwrap_err();
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");

    // The same mix-up on disk stops a re-run instead of being kept as valid.
    std::fs::copy(&bob.key, &alice.key).unwrap();
    let err = ca.issue(dir.path(), &request("alice", Usage::Client, &[]), "pw", false).unwrap_err();
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
}

#[test]
fn a_certificate_from_another_ca_is_refused() {
    let lab = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    new_ca(lab.path(), KeyAlgorithm::Rsa2048);
    let stranger = new_ca(other.path(), KeyAlgorithm::Rsa2048);
    let files = stranger
        .issue(other.path(), &request("broker", Usage::Server, &["localhost"]), "pw", false)
        .unwrap();
    let err = verify(&files.cert, None, &lab.path().join("ca.crt"), Some("localhost")).unwrap_err();
    assert!(matches!(err, TlsError::NotIssuedByCa { .. }), "{err}");
}

#[test]
fn an_expired_ca_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyAlgorithm::EcP256.generate().unwrap();
    let name = build_name("old CA", None).unwrap();
    let mut builder = X509::builder().unwrap();
    builder.set_version(2).unwrap();
    builder.set_serial_number(&random_serial().unwrap()).unwrap();
    builder.set_subject_name(&name).unwrap();
    builder.set_issuer_name(&name).unwrap();
    builder.set_pubkey(&key).unwrap();
    builder.set_not_before(&Asn1Time::from_unix(1_500_000_000).unwrap()).unwrap();
    builder.set_not_after(&Asn1Time::from_unix(1_600_000_000).unwrap()).unwrap();
    builder.append_extension(BasicConstraints::new().critical().ca().build().unwrap()).unwrap();
    builder.sign(&key, MessageDigest::sha256()).unwrap();
    let (cert_path, key_path) = ca_paths(dir.path());
    std::fs::write(&cert_path, builder.build().to_pem().unwrap()).unwrap();
    std::fs::write(&key_path, key.private_key_to_pem_pkcs8().unwrap()).unwrap();

    let err = CertificateAuthority::load(dir.path()).err().unwrap();
    assert!(matches!(err, TlsError::CaExpired { .. }), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");
    // --force replaces it with a fresh CA.
    let (_, created) =
        CertificateAuthority::load_or_create(dir.path(), "new CA", KeyAlgorithm::Rsa2048, 30, true)
            .unwrap();
    assert!(created);
    CertificateAuthority::load(dir.path()).unwrap();
}

#[test]
fn a_broker_certificate_without_names_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca(dir.path(), KeyAlgorithm::Rsa2048);
    let err =
        ca.issue(dir.path(), &request("broker", Usage::Server, &[]), "pw", false).unwrap_err();
    assert!(err.to_string().contains("--dns or --ip"), "{err}");
}

#[test]
fn subjects_render_as_kafka_principals() {
    let name = build_name("carol, jr", Some("payments")).unwrap();
    assert_eq!(rfc2253_subject(&name), "CN=carol\\, jr,OU=payments,O=kafka-lab");
}

#[test]
fn pkcs12_must_open_with_the_password_and_hold_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca(dir.path(), KeyAlgorithm::EcP256);
    let alice = ca.issue(dir.path(), &request("alice", Usage::Client, &[]), "pw", false).unwrap();
    let bob = ca.issue(dir.path(), &request("bob", Usage::Client, &[]), "pw", false).unwrap();
    verify_pkcs12(&alice.pkcs12, "pw", &alice.cert).unwrap();
    assert_eq!(certificate_subject(&alice.cert).unwrap(), "CN=alice,O=kafka-lab");
    let err = verify_pkcs12(&alice.pkcs12, "wrong", &alice.cert).unwrap_err();
    assert!(err.to_string().contains("does not open with the keystore password"), "{err}");
    let err = verify_pkcs12(&alice.pkcs12, "pw", &bob.cert).unwrap_err();
    assert!(err.to_string().contains("holds a different certificate"), "{err}");
}
