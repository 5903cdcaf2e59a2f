//! Exercise `certificates`: a CA, a broker certificate whose SANs cover the listener host, and
//! client certificates for admin, alice and bob, checked file by file with `kafka_lab_tls`.

use std::path::Path;

use kafka_lab_tls::{
    CertificateAuthority, CertificateRequest, KeyAlgorithm, SubjectAltName, TlsError, Usage,
};

use crate::{Lab, Phase, Report, Solution};

/// Clients that get a certificate.
pub const CLIENTS: [&str; 3] = ["admin", "alice", "bob"];

pub fn check(lab: &Lab) -> Report {
    let mut report = Report::default();
    let dir = lab.tls_dir();
    let shown = |name: &str| format!("{}/{name}", lab.config.tls_dir.display());
    let ca_path = dir.join("ca.crt");
    if !ca_path.exists() {
        report.fail(
            format!("{} is missing", shown("ca.crt")),
            format!("create the CA with `kafka-lab tls ca --dir {}`", dir.display()),
        );
        return report;
    }
    match CertificateAuthority::load(&dir) {
        Ok(_) => {
            report.pass(format!("{} and ca.key: a valid CA whose key matches", shown("ca.crt")))
        }
        Err(e) => {
            report.fail_msg(e.to_string());
            return report;
        }
    }
    let password = &lab.config.keystore_password;
    let host = &lab.config.host;
    // The broker.
    let broker_crt = dir.join("broker.crt");
    if !broker_crt.exists() {
        report.fail(
            format!("{} is missing", shown("broker.crt")),
            format!(
                "issue it with `kafka-lab tls broker --dir {} --password {password} {}`",
                dir.display(),
                san_flags(host)
            ),
        );
    } else {
        match kafka_lab_tls::verify(
            &broker_crt,
            Some(&dir.join("broker.key")),
            &ca_path,
            Some(host),
        ) {
            Ok(()) => report.pass(format!(
                "{}: signed by the CA, unexpired, matches broker.key, SANs cover {host}",
                shown("broker.crt")
            )),
            Err(e) => report.fail_msg(fix_hint(e, &dir)),
        }
        keystore(&mut report, &dir, "broker", password, &shown);
    }
    // The clients.
    for client in CLIENTS {
        let crt = dir.join(format!("{client}.crt"));
        if !crt.exists() {
            report.fail(
                format!("{} is missing", shown(&format!("{client}.crt"))),
                format!(
                    "issue it with `kafka-lab tls client --dir {} --password {password} --name {client}`",
                    dir.display()
                ),
            );
            continue;
        }
        let key = dir.join(format!("{client}.key"));
        if let Err(e) = kafka_lab_tls::verify(&crt, Some(&key), &ca_path, None) {
            report.fail_msg(fix_hint(e, &dir));
            continue;
        }
        match kafka_lab_tls::certificate_subject(&crt) {
            Ok(subject) if subject.starts_with(&format!("CN={client},")) || subject == format!("CN={client}") => {
                report.pass(format!(
                    "{}: signed by the CA, unexpired, matches its key, subject {subject}",
                    shown(&format!("{client}.crt"))
                ))
            }
            Ok(subject) => report.fail(
                format!("{} has subject {subject}, not CN={client}", shown(&format!("{client}.crt"))),
                // Without --force, `tls client` keeps the existing files and refuses a request
                // that differs from them.
                format!(
                    "re-issue it with `kafka-lab tls client --force --dir {} --password {password} --name {client}`: the CN becomes the principal User:{client}",
                    dir.display()
                ),
            ),
            Err(e) => report.fail_msg(e.to_string()),
        }
        keystore(&mut report, &dir, client, password, &shown);
    }
    report
}

fn keystore(
    report: &mut Report,
    dir: &Path,
    name: &str,
    password: &str,
    shown: &dyn Fn(&str) -> String,
) {
    let p12 = dir.join(format!("{name}.p12"));
    match kafka_lab_tls::verify_pkcs12(&p12, password, &dir.join(format!("{name}.crt"))) {
        Ok(()) => report.pass(format!(
            "{}: opens with the keystore password from lab.yaml and holds {name}.crt and its key",
            shown(&format!("{name}.p12"))
        )),
        Err(e) => report.fail_msg(fix_hint(e, dir)),
    }
}

/// TlsError messages already say what to do; a missing file gets the command that makes it.
fn fix_hint(error: TlsError, dir: &Path) -> String {
    match error {
        TlsError::Io { path, source } if source.kind() == std::io::ErrorKind::NotFound => format!(
            "{} is missing: re-issue the certificate with `kafka-lab tls … --force --dir {}`",
            path.display(),
            dir.display()
        ),
        other => other.to_string(),
    }
}

fn san_flags(host: &str) -> String {
    let mut flags = vec!["--dns localhost".to_string(), "--ip 127.0.0.1".to_string()];
    match SubjectAltName::parse(host) {
        SubjectAltName::Ip(ip) if ip.to_string() != "127.0.0.1" => flags.push(format!("--ip {ip}")),
        SubjectAltName::Dns(name) if name != "localhost" => flags.push(format!("--dns {name}")),
        _ => {}
    }
    flags.join(" ")
}

/// The broker's SANs: the lab host plus localhost and 127.0.0.1.
fn broker_names(host: &str) -> Vec<SubjectAltName> {
    let mut names = vec![SubjectAltName::parse("localhost"), SubjectAltName::parse("127.0.0.1")];
    let own = SubjectAltName::parse(host);
    if !names.contains(&own) {
        names.push(own);
    }
    names
}

pub fn solve(lab: &Lab, phase: Phase) -> anyhow::Result<Solution> {
    let mut solution = Solution::default();
    if phase != Phase::Files {
        return Ok(solution);
    }
    let dir = lab.tls_dir();
    let (ca, created) = CertificateAuthority::load_or_create(
        &dir,
        "kafka-lab CA",
        KeyAlgorithm::Rsa2048,
        3650,
        false,
    )
    .or_else(|_| {
        CertificateAuthority::load_or_create(
            &dir,
            "kafka-lab CA",
            KeyAlgorithm::Rsa2048,
            3650,
            true,
        )
    })?;
    solution.actions.push(format!(
        "{} the CA {}",
        if created { "created" } else { "kept" },
        dir.join("ca.crt").display()
    ));
    let mut requests = vec![CertificateRequest {
        name: "broker".into(),
        common_name: "broker".into(),
        organizational_unit: None,
        subject_alt_names: broker_names(&lab.config.host),
        usage: Usage::Server,
        key_algorithm: KeyAlgorithm::Rsa2048,
        valid_days: 365,
    }];
    for client in CLIENTS {
        requests.push(CertificateRequest {
            name: client.into(),
            common_name: client.into(),
            organizational_unit: None,
            subject_alt_names: Vec::new(),
            usage: Usage::Client,
            key_algorithm: KeyAlgorithm::Rsa2048,
            valid_days: 365,
        });
    }
    let password = &lab.config.keystore_password;
    for request in &requests {
        // A kept certificate must also open with the lab's password, or it is re-issued.
        let kept = ca.issue(&dir, request, password, false).ok().filter(|files| {
            kafka_lab_tls::verify_pkcs12(&files.pkcs12, password, &files.cert).is_ok()
        });
        let files = match kept {
            Some(files) => files,
            None => ca.issue(&dir, request, password, true)?,
        };
        solution.actions.push(format!(
            "{} {} ({}.key, {}.p12)",
            if files.created { "issued" } else { "kept" },
            files.cert.display(),
            request.name,
            request.name
        ));
    }
    Ok(solution)
}
