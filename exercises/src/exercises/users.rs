//! Exercise `users`: a SASL_SSL listener with SCRAM users admin (bootstrapped in broker.yaml,
//! as `kafka-storage format --add-scram` does), alice and bob (created at run time with
//! AlterUserScramCredentials).

use super::{declares_listener, reachable, set_listener, start_check, tls_listener};
use crate::admin_ops::{self, AdminTarget};
use crate::client::{self, Access};
use crate::lab::User;
use crate::{Lab, Phase, Report, Solution};

/// SCRAM iterations the solution uses (Kafka's tools default to 4096; 8192 as in the course).
pub const ITERATIONS: i32 = 8192;

/// Where admin operations go: the SASL_SSL listener, as admin, with `admin.properties`.
pub fn admin_target(lab: &Lab) -> AdminTarget {
    AdminTarget {
        bootstrap_server: lab.config.listeners.sasl_ssl.clone(),
        command_config: lab.properties_file(&lab.config.admin.name),
    }
}

/// The `kafka-lab configs` command that creates `user`'s SCRAM credential.
pub fn create_user_command(lab: &Lab, user: &User) -> String {
    format!(
        "kafka-lab configs --bootstrap-server {} --command-config {} --alter --add-config \
         '{}=[iterations={ITERATIONS},password={}]' --entity-type users --entity-name {}",
        lab.config.listeners.sasl_ssl,
        lab.properties_file(&lab.config.admin.name).display(),
        user.mechanism,
        user.password,
        user.name
    )
}

fn bootstrap_entry(user: &User) -> String {
    format!("{}=[name={},password={}]", user.mechanism, user.name, user.password)
}

pub fn check(lab: &Lab) -> Report {
    let (mut report, yaml) = match start_check(lab) {
        Ok(started) => started,
        Err(failed) => return failed,
    };
    let sasl_ssl = &lab.config.listeners.sasl_ssl;
    declares_listener(&mut report, lab, &yaml, "SASL_SSL", sasl_ssl);
    let mechanisms = yaml
        .get("sasl.enabled.mechanisms")
        .unwrap_or_else(|| "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512".into());
    let enabled: Vec<String> =
        mechanisms.split(',').map(|m| m.trim().to_ascii_uppercase()).collect();
    let missing: Vec<&str> = ["SCRAM-SHA-256", "SCRAM-SHA-512"]
        .into_iter()
        .filter(|m| !enabled.iter().any(|e| e == m))
        .collect();
    report.expect(
        missing.is_empty(),
        format!("sasl.enabled.mechanisms offers SCRAM-SHA-256 and SCRAM-SHA-512 ({mechanisms})"),
        format!("sasl.enabled.mechanisms ({mechanisms}) lacks {}", missing.join(" and ")),
        "set sasl.enabled.mechanisms: SCRAM-SHA-256,SCRAM-SHA-512",
    );
    let admin = &lab.config.admin;
    let properties = lab.properties_file(&admin.name);
    let jaas_user = std::fs::read_to_string(&properties).ok().and_then(|text| {
        text.lines().find(|l| l.trim_start().starts_with("sasl.jaas.config")).map(str::to_owned)
    });
    report.expect(
        jaas_user.as_deref().is_some_and(|l| l.contains(&format!("username=\"{}\"", admin.name))),
        format!("{} holds the admin's client settings", properties.display()),
        format!("{} has no sasl.jaas.config for {}", properties.display(), admin.name),
        format!(
            "write it with security.protocol=SASL_SSL, sasl.mechanism={}, \
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
             username=\"{}\" password=\"{}\";, ssl.truststore.type=PEM, ssl.truststore.location={}",
            admin.mechanism,
            admin.name,
            admin.password,
            lab.tls_file("ca.crt").display()
        ),
    );

    if !reachable(&mut report, lab, "SASL_SSL", sasl_ssl) {
        return report;
    }
    for user in std::iter::once(admin).chain(&lab.config.users) {
        let access = Access::sasl_ssl(lab, user, &user.password);
        match client::metadata_error(&access) {
            None => report.pass(format!("{} authenticates", access.label)),
            Some(e) if e.contains("Authentication failed") => {
                let fix = if user.name == admin.name {
                    format!(
                        "add '{}' to sasl.scram.users in broker.yaml (the admin must exist \
                         before anyone can create users) and restart the broker",
                        bootstrap_entry(user)
                    )
                } else {
                    format!("create the credential: {}", create_user_command(lab, user))
                };
                report.fail(
                    format!(
                        "user {} cannot authenticate with {} and password {}",
                        user.name, user.mechanism, user.password
                    ),
                    fix,
                );
            }
            Some(e) if e.contains("Unsupported SASL mechanism") => {
                report.fail(
                    format!(
                        "user {} cannot authenticate with {}: the broker does not offer it",
                        user.name, user.mechanism
                    ),
                    format!(
                        "add {} to sasl.enabled.mechanisms in broker.yaml and restart the broker",
                        user.mechanism
                    ),
                );
                // The wrong-password check would only repeat this.
                continue;
            }
            Some(e) => report.fail(
                format!("{} failed: {e}", access.label),
                "the SASL_SSL listener must use the broker certificate from tls/ (ssl.keystore.*)",
            ),
        }
        let wrong = Access::sasl_ssl(lab, user, "not-the-password");
        match client::metadata_error(&wrong) {
            Some(e) if e.contains("Authentication failed") => {
                report.pass(format!("user {} with a wrong password is rejected", user.name))
            }
            Some(e) => report.fail(
                format!("user {} with a wrong password failed without SASL_AUTHENTICATION_FAILED: {e}", user.name),
                "the SASL_SSL listener must authenticate with SASL (check listener.security.protocol.map)",
            ),
            None => report.fail(
                format!("user {} was accepted with a wrong password", user.name),
                "the port must be a SASL_SSL listener, not SSL or PLAINTEXT",
            ),
        }
    }
    report
}

/// Kafka client properties for `user` over SASL_SSL: what `--command-config` takes.
pub fn client_properties(lab: &Lab, user: &User) -> String {
    format!(
        "# {name} over SASL_SSL, Kafka's client property names (--command-config, Java clients)\n\
         bootstrap.servers={bootstrap}\n\
         security.protocol=SASL_SSL\n\
         sasl.mechanism={mechanism}\n\
         sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{name}\" password=\"{password}\";\n\
         ssl.truststore.type=PEM\n\
         ssl.truststore.location={ca}\n",
        name = user.name,
        bootstrap = lab.config.listeners.sasl_ssl,
        mechanism = user.mechanism,
        password = user.password,
        ca = lab.tls_file("ca.crt").display(),
    )
}

pub fn solve(lab: &Lab, phase: Phase) -> anyhow::Result<Solution> {
    let mut solution = tls_listener::solve(lab, phase)?;
    let admin = &lab.config.admin;
    match phase {
        Phase::Files => {
            let mut yaml = lab.read_broker_yaml()?;
            set_listener(&mut yaml, "SASL_SSL", &lab.config.listeners.sasl_ssl);
            yaml.set("sasl.enabled.mechanisms", "SCRAM-SHA-256,SCRAM-SHA-512");
            yaml.set("sasl.scram.users", vec![serde_yaml::Value::from(bootstrap_entry(admin))]);
            solution.restart_broker |= yaml.write()?;
            solution.actions.push(format!(
                "broker.yaml: SASL_SSL://{} with SCRAM-SHA-256/512; admin bootstrapped in sasl.scram.users",
                lab.config.listeners.sasl_ssl
            ));
            for user in std::iter::once(admin).chain(&lab.config.users) {
                let path = lab.properties_file(&user.name);
                std::fs::write(&path, client_properties(lab, user))?;
                solution.actions.push(format!("wrote {}", path.display()));
            }
        }
        Phase::Admin => {
            admin_ops::create_scram_users(&admin_target(lab), &lab.config.users, ITERATIONS)?;
            for user in &lab.config.users {
                solution.actions.push(format!(
                    "created the {} credential of {} (AlterUserScramCredentials)",
                    user.mechanism, user.name
                ));
            }
        }
    }
    Ok(solution)
}
