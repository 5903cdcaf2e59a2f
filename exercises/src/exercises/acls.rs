//! Exercise `acls`: the StandardAuthorizer on, admin a super user, alice may write and read
//! `orders` and read group `orders-app`, bob may only read `orders`. The checker acts as each
//! user with librdkafka and names the binding to add or remove.

use super::{reachable, start_check, users};
use crate::admin_ops::{self, AclBinding, ResourceType};
use crate::client::{self, is_authorization_error, Access};
use crate::{Lab, Phase, Report, Solution};

/// Kafka's class name of the KRaft authorizer.
pub const AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

/// A topic no ACL names: nobody but the admin may touch it.
pub const UNLISTED_TOPIC: &str = "lab-unlisted";

/// The bindings of the reference solution.
pub fn bindings(lab: &Lab) -> Vec<AclBinding> {
    let (topic, group) = (lab.config.topic.as_str(), lab.config.group.as_str());
    vec![
        AclBinding::allow(ResourceType::Topic, topic, "User:alice", "Write"),
        AclBinding::allow(ResourceType::Topic, topic, "User:alice", "Read"),
        AclBinding::allow(ResourceType::Group, group, "User:alice", "Read"),
        AclBinding::allow(ResourceType::Topic, topic, "User:bob", "Read"),
    ]
}

/// The `kafka-lab acls` command for a binding (`--add` or `--remove`).
pub fn acls_command(lab: &Lab, action: &str, binding: &AclBinding) -> String {
    let permission = match binding.permission {
        admin_ops::Permission::Allow => "allow",
        admin_ops::Permission::Deny => "deny",
    };
    let resource = match binding.resource_type {
        ResourceType::Topic => "topic",
        ResourceType::Group => "group",
    };
    format!(
        "kafka-lab acls --bootstrap-server {} --command-config {} --{action} --{permission}-principal {} \
         --operation {} --{resource} {}",
        lab.config.listeners.sasl_ssl,
        lab.properties_file(&lab.config.admin.name).display(),
        binding.principal,
        binding.operation,
        binding.resource_name
    )
}

pub fn check(lab: &Lab) -> Report {
    let (mut report, yaml) = match start_check(lab) {
        Ok(started) => started,
        Err(failed) => return failed,
    };
    let authorizer = yaml.get("authorizer.class.name").unwrap_or_default();
    report.expect(
        authorizer == AUTHORIZER,
        format!("authorizer.class.name is {AUTHORIZER}"),
        if authorizer.is_empty() {
            "authorizer.class.name is not set, so every request is allowed".to_string()
        } else {
            format!("authorizer.class.name is {authorizer}")
        },
        format!("set authorizer.class.name: {AUTHORIZER} and restart the broker"),
    );
    let admin = format!("User:{}", lab.config.admin.name);
    let supers = yaml.get("super.users").unwrap_or_default();
    report.expect(
        supers.split(';').any(|s| s.trim() == admin),
        format!("super.users includes {admin}"),
        format!("super.users ({supers:?}) does not include {admin}"),
        format!("set super.users: {admin} so the admin can manage ACLs, users and quotas"),
    );
    let everyone = yaml.get("allow.everyone.if.no.acl.found").unwrap_or_else(|| "false".into());
    report.expect(
        everyone != "true",
        "allow.everyone.if.no.acl.found is false: what no ACL allows is denied",
        "allow.everyone.if.no.acl.found is true, so topics without ACLs are open to everyone",
        "set allow.everyone.if.no.acl.found: false",
    );

    let sasl_ssl = &lab.config.listeners.sasl_ssl;
    if !reachable(&mut report, lab, "SASL_SSL", sasl_ssl) {
        return report;
    }
    let (topic, group) = (lab.config.topic.as_str(), lab.config.group.as_str());
    let admin_access = Access::user(lab, &lab.config.admin.name);
    for name in [topic, UNLISTED_TOPIC] {
        if let Err(e) = client::ensure_topic(&admin_access, name) {
            report.fail(
                format!("user {} cannot create topic {name}: {e}", lab.config.admin.name),
                format!("make {admin} a super user (super.users: {admin}) and do the users exercise first"),
            );
            return report;
        }
    }
    report.pass(format!("the admin created (or found) topics {topic} and {UNLISTED_TOPIC}"));
    let alice = Access::user(lab, "alice");
    let bob = Access::user(lab, "bob");
    let allow = |principal: &str, resource, name: &str, op: &str| {
        acls_command(lab, "add", &AclBinding::allow(resource, name, principal, op))
    };

    // What must work.
    match client::produce(&alice, topic, 2, 64) {
        Ok(()) => report.pass(format!("user alice can write to topic {topic}")),
        Err(e) if is_authorization_error(&e) => report.fail(
            format!("user alice cannot write to topic {topic} ({e})"),
            format!("add an ALLOW: {}", allow("User:alice", ResourceType::Topic, topic, "Write")),
        ),
        Err(e) => report.fail_msg(format!("user alice could not write to topic {topic}: {e}")),
    }
    match client::consume(&alice, topic, Some(group), 1) {
        Ok(_) => report.pass(format!("user alice can read topic {topic} in group {group}")),
        Err(e) if e.contains("Group authorization failed") || e.contains("GroupAuthorization") => {
            report.fail(
                format!("user alice cannot use group {group} ({e})"),
                format!(
                    "add an ALLOW: {}",
                    allow("User:alice", ResourceType::Group, group, "Read")
                ),
            )
        }
        Err(e) if is_authorization_error(&e) => report.fail(
            format!("user alice cannot read topic {topic} ({e})"),
            format!("add an ALLOW: {}", allow("User:alice", ResourceType::Topic, topic, "Read")),
        ),
        Err(e) => report.fail_msg(format!("user alice could not read topic {topic}: {e}")),
    }
    match client::consume(&bob, topic, None, 1) {
        Ok(_) => report.pass(format!("user bob can read topic {topic}")),
        Err(e) if is_authorization_error(&e) => report.fail(
            format!("user bob cannot read topic {topic} ({e})"),
            format!("add an ALLOW: {}", allow("User:bob", ResourceType::Topic, topic, "Read")),
        ),
        Err(e) => report.fail_msg(format!("user bob could not read topic {topic}: {e}")),
    }

    // What must be refused.
    match client::produce(&bob, topic, 1, 64) {
        Err(e) if is_authorization_error(&e) => {
            report.pass(format!("user bob cannot write to topic {topic}"))
        }
        Ok(()) => report.fail(
            format!("user bob can still write to topic {topic}"),
            "add a DENY or remove the ALLOW",
        ),
        Err(e) => report.fail_msg(format!(
            "user bob's write to topic {topic} failed for another reason than authorization: {e}"
        )),
    }
    match client::consume(&bob, topic, Some(group), 1) {
        Err(e) if is_authorization_error(&e) => {
            report.pass(format!("user bob cannot use group {group}"))
        }
        Ok(_) => report.fail(
            format!("user bob can use group {group}, alice's application's group"),
            "add a DENY or remove the ALLOW",
        ),
        Err(e) => report.fail_msg(format!(
            "user bob's use of group {group} failed for another reason than authorization: {e}"
        )),
    }
    match client::produce(&alice, UNLISTED_TOPIC, 1, 64) {
        Err(e) if is_authorization_error(&e) => report.pass(format!(
            "user alice cannot write to topic {UNLISTED_TOPIC}, which no ACL names"
        )),
        Ok(()) => report.fail(
            format!("user alice can write to topic {UNLISTED_TOPIC}, which should be closed to her"),
            "set allow.everyone.if.no.acl.found: false and remove any ALLOW for User:* or a wildcard topic",
        ),
        Err(e) => report.fail_msg(format!("user alice's write to {UNLISTED_TOPIC} failed oddly: {e}")),
    }
    match client::produce(&Access::plaintext(lab), topic, 1, 64) {
        Err(_) => report.pass(format!("an anonymous client cannot write to topic {topic}")),
        Ok(()) => report.fail(
            format!("an anonymous PLAINTEXT client (User:ANONYMOUS) can write to topic {topic}"),
            "add a DENY or remove the ALLOW for User:ANONYMOUS (or User:*), or drop the PLAINTEXT listener",
        ),
    }
    report
}

pub fn solve(lab: &Lab, phase: Phase) -> anyhow::Result<Solution> {
    let mut solution = users::solve(lab, phase)?;
    match phase {
        Phase::Files => {
            let mut yaml = lab.read_broker_yaml()?;
            yaml.set("authorizer.class.name", AUTHORIZER);
            yaml.set("super.users", format!("User:{}", lab.config.admin.name));
            yaml.set("allow.everyone.if.no.acl.found", false);
            solution.restart_broker |= yaml.write()?;
            solution.actions.push(format!(
                "broker.yaml: authorizer.class.name {AUTHORIZER}, super.users User:{}, \
                 allow.everyone.if.no.acl.found false",
                lab.config.admin.name
            ));
        }
        Phase::Admin => {
            // Learners may not create topics once ACLs are on: the admin creates them.
            let admin = Access::user(lab, &lab.config.admin.name);
            for name in [lab.config.topic.as_str(), UNLISTED_TOPIC] {
                client::ensure_topic(&admin, name).map_err(anyhow::Error::msg)?;
            }
            solution.actions.push(format!(
                "created topics {} and {UNLISTED_TOPIC} as {}",
                lab.config.topic, lab.config.admin.name
            ));
            let target = users::admin_target(lab);
            let bindings = bindings(lab);
            admin_ops::create_acls(&target, &bindings)?;
            for binding in bindings {
                solution.actions.push(format!("created ACL {binding} (CreateAcls)"));
            }
        }
    }
    Ok(solution)
}
