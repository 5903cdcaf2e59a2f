//! StandardAuthorizer's matching rules, one behaviour per test.

use uuid::Uuid;

use super::*;
use crate::config::BrokerConfig;

use AclOperation as Op;
use AclPermissionType::{Allow, Deny};
use PatternType::{Literal, Prefixed};
use ResourceType::{Cluster, Group, Topic, TransactionalId};

fn acl(
    rt: ResourceType,
    name: &str,
    pattern: PatternType,
    principal: &str,
    op: AclOperation,
    permission: AclPermissionType,
) -> AclBinding {
    AclBinding {
        resource_type: rt,
        resource_name: name.into(),
        pattern_type: pattern,
        principal: principal.into(),
        host: "*".into(),
        operation: op,
        permission,
    }
}

fn image(acls: &[AclBinding]) -> AclImage {
    let mut image = AclImage::default();
    for (i, a) in acls.iter().enumerate() {
        image.apply_create(Uuid::from_u128(i as u128 + 1), a.clone());
    }
    image
}

fn authorizer(super_users: &str, allow_if_none: bool) -> Authorizer {
    let config = BrokerConfig {
        authorizer_class_name: STANDARD_AUTHORIZER.into(),
        super_users: super_users.into(),
        allow_everyone_if_no_acl_found: allow_if_none,
        ..BrokerConfig::default()
    };
    Authorizer::from_config(&config).unwrap()
}

fn alice() -> Principal {
    Principal::user("alice")
}

/// alice from 10.0.0.1 on a topic.
fn can(a: &Authorizer, acls: &AclImage, op: AclOperation, rt: ResourceType, name: &str) -> bool {
    a.authorize(acls, &alice(), "10.0.0.1", op, rt, name)
}

#[test]
fn literal_acl_allows_exactly_its_resource_and_operation() {
    let acls = image(&[acl(Topic, "orders", Literal, "User:alice", Op::Read, Allow)]);
    let a = authorizer("", false);
    assert!(can(&a, &acls, Op::Read, Topic, "orders"));
    assert!(!can(&a, &acls, Op::Write, Topic, "orders"));
    assert!(!can(&a, &acls, Op::Read, Topic, "orders2"));
    assert!(!can(&a, &acls, Op::Read, Group, "orders"), "resource types are separate");
    assert!(!a.authorize(&acls, &Principal::user("bob"), "10.0.0.1", Op::Read, Topic, "orders"));
}

#[test]
fn wildcard_name_and_wildcard_principal_match_everything() {
    let acls = image(&[acl(Topic, "*", Literal, "User:*", Op::Write, Allow)]);
    let a = authorizer("", false);
    assert!(can(&a, &acls, Op::Write, Topic, "anything"));
    assert!(a.authorize(&acls, &Principal::user("bob"), "1.2.3.4", Op::Write, Topic, "x"));
    // `*` is only a wildcard in a LITERAL pattern.
    let prefixed_star = image(&[acl(Topic, "*", Prefixed, "User:alice", Op::Write, Allow)]);
    assert!(!can(&a, &prefixed_star, Op::Write, Topic, "anything"));
    assert!(can(&a, &prefixed_star, Op::Write, Topic, "*star"));
}

#[test]
fn prefixed_acl_matches_names_starting_with_the_prefix() {
    let acls = image(&[acl(Topic, "team-a.", Prefixed, "User:alice", Op::Read, Allow)]);
    let a = authorizer("", false);
    assert!(can(&a, &acls, Op::Read, Topic, "team-a.orders"));
    assert!(can(&a, &acls, Op::Read, Topic, "team-a."));
    assert!(!can(&a, &acls, Op::Read, Topic, "team-b.orders"));
    assert!(!can(&a, &acls, Op::Read, Topic, "team-a"));
}

#[test]
fn deny_wins_over_allow_whatever_the_pattern() {
    let a = authorizer("", false);
    let acls = image(&[
        acl(Topic, "*", Literal, "User:alice", Op::All, Allow),
        acl(Topic, "secret.", Prefixed, "User:*", Op::Read, Deny),
    ]);
    assert!(can(&a, &acls, Op::Read, Topic, "public"));
    assert!(!can(&a, &acls, Op::Read, Topic, "secret.payroll"));
    assert!(can(&a, &acls, Op::Write, Topic, "secret.payroll"), "the DENY is for Read only");
}

#[test]
fn read_write_delete_alter_imply_describe_for_allow_only() {
    let a = authorizer("", false);
    for op in [Op::Read, Op::Write, Op::Delete, Op::Alter, Op::Describe] {
        let acls = image(&[acl(Topic, "t", Literal, "User:alice", op, Allow)]);
        assert!(can(&a, &acls, Op::Describe, Topic, "t"), "{op} implies Describe");
    }
    for op in [Op::Create, Op::DescribeConfigs, Op::AlterConfigs] {
        let acls = image(&[acl(Topic, "t", Literal, "User:alice", op, Allow)]);
        assert!(!can(&a, &acls, Op::Describe, Topic, "t"), "{op} does not imply Describe");
    }
    let acls = image(&[acl(Topic, "t", Literal, "User:alice", Op::AlterConfigs, Allow)]);
    assert!(can(&a, &acls, Op::DescribeConfigs, Topic, "t"));
    // Implication does not run backwards, and a DENY of Read does not deny Describe.
    let acls = image(&[
        acl(Topic, "t", Literal, "User:alice", Op::Describe, Allow),
        acl(Topic, "t", Literal, "User:alice", Op::Read, Deny),
    ]);
    assert!(can(&a, &acls, Op::Describe, Topic, "t"));
    assert!(!can(&a, &acls, Op::Read, Topic, "t"));
}

#[test]
fn all_allows_and_denies_every_operation() {
    let a = authorizer("", false);
    let acls = image(&[acl(Group, "g", Literal, "User:alice", Op::All, Allow)]);
    assert!(can(&a, &acls, Op::Read, Group, "g"));
    assert!(can(&a, &acls, Op::Delete, Group, "g"));
    let acls = image(&[
        acl(Group, "g", Literal, "User:alice", Op::Read, Allow),
        acl(Group, "g", Literal, "User:alice", Op::All, Deny),
    ]);
    assert!(!can(&a, &acls, Op::Read, Group, "g"));
    assert!(!can(&a, &acls, Op::Describe, Group, "g"));
}

#[test]
fn hosts_match_exactly_or_by_wildcard() {
    let a = authorizer("", false);
    let mut from_one = acl(Topic, "t", Literal, "User:alice", Op::Read, Allow);
    from_one.host = "10.0.0.1".into();
    let acls = image(&[from_one]);
    assert!(a.authorize(&acls, &alice(), "10.0.0.1", Op::Read, Topic, "t"));
    assert!(!a.authorize(&acls, &alice(), "10.0.0.2", Op::Read, Topic, "t"));
    assert_eq!(client_ip("127.0.0.1:40000"), "127.0.0.1");
    assert_eq!(client_ip("[::1]:40000"), "::1");
}

#[test]
fn super_users_bypass_even_deny() {
    let a = authorizer("User:admin; User:ops", false);
    let acls = image(&[acl(Topic, "*", Literal, "User:*", Op::All, Deny)]);
    for user in ["admin", "ops"] {
        assert!(a.authorize(&acls, &Principal::user(user), "h", Op::Delete, Topic, "t"));
    }
    assert!(!can(&a, &acls, Op::Read, Topic, "t"));
}

#[test]
fn allow_everyone_applies_only_when_no_acl_covers_the_resource() {
    let acls = image(&[acl(Topic, "owned", Literal, "User:bob", Op::Read, Allow)]);
    let open = authorizer("", true);
    assert!(can(&open, &acls, Op::Read, Topic, "unowned"), "no ACL: allowed");
    assert!(!can(&open, &acls, Op::Read, Topic, "owned"), "bob's ACL exists: alice denied");
    let closed = authorizer("", false);
    assert!(!can(&closed, &acls, Op::Read, Topic, "unowned"), "default is false");
}

#[test]
fn without_an_authorizer_everything_is_allowed() {
    let off = Authorizer::from_config(&BrokerConfig::default()).unwrap();
    assert!(!off.is_enabled());
    let acls = image(&[acl(Topic, "*", Literal, "User:*", Op::All, Deny)]);
    assert!(can(&off, &acls, Op::Read, Topic, "t"));
}

#[test]
fn authorizer_config_is_checked() {
    let bad = |class: &str, supers: &str| {
        let config = BrokerConfig {
            authorizer_class_name: class.into(),
            super_users: supers.into(),
            ..BrokerConfig::default()
        };
        Authorizer::from_config(&config).unwrap_err()
    };
    assert!(bad("kafka.security.authorizer.AclAuthorizer", "").contains("removed"));
    assert!(bad("com.example.Mine", "").contains(STANDARD_AUTHORIZER));
    assert!(bad(STANDARD_AUTHORIZER, "admin").contains("super.users"));
}

#[test]
fn by_resource_type_needs_an_undominated_allow() {
    let a = authorizer("User:admin", false);
    let p = alice();
    let check = |acls: &AclImage| a.authorize_by_resource_type(acls, &p, "h", Op::Write, Topic);
    assert!(!check(&image(&[])));
    assert!(check(&image(&[acl(Topic, "t", Literal, "User:alice", Op::Write, Allow)])));
    assert!(!check(&image(&[acl(Topic, "t", Literal, "User:alice", Op::Read, Allow)])));
    assert!(!check(&image(&[
        acl(Topic, "t", Literal, "User:alice", Op::Write, Allow),
        acl(Topic, "t", Literal, "User:alice", Op::Write, Deny),
    ])));
    assert!(!check(&image(&[
        acl(Topic, "team.t", Literal, "User:alice", Op::Write, Allow),
        acl(Topic, "team.", Prefixed, "User:*", Op::Write, Deny),
    ])));
    assert!(!check(&image(&[
        acl(Topic, "t", Prefixed, "User:alice", Op::All, Allow),
        acl(Topic, "*", Literal, "User:alice", Op::Write, Deny),
    ])));
    assert!(check(&image(&[
        acl(Topic, "a", Literal, "User:alice", Op::Write, Allow),
        acl(Topic, "b", Literal, "User:alice", Op::Write, Deny),
    ])));
    let all_denied = image(&[acl(Topic, "*", Literal, "User:*", Op::Write, Deny)]);
    assert!(a.authorize_by_resource_type(
        &all_denied,
        &Principal::user("admin"),
        "h",
        Op::Write,
        Topic
    ));
}

#[test]
fn new_acls_are_validated_as_kafka_does() {
    let good = acl(Cluster, CLUSTER_NAME, Literal, "User:alice", Op::Alter, Allow);
    assert!(good.validate().is_ok());
    let cases = [
        AclBinding { resource_name: "other".into(), ..good.clone() },
        AclBinding { resource_type: ResourceType::Any, ..good.clone() },
        AclBinding { pattern_type: PatternType::Match, ..good.clone() },
        AclBinding { operation: Op::Any, ..good.clone() },
        AclBinding { permission: AclPermissionType::Any, ..good.clone() },
        AclBinding { principal: "alice".into(), ..good.clone() },
        AclBinding { resource_type: Topic, resource_name: "".into(), ..good.clone() },
    ];
    for case in cases {
        assert!(case.validate().is_err(), "{case}");
    }
}

#[test]
fn filters_match_as_kafkas_acl_binding_filter() {
    let literal = acl(Topic, "orders", Literal, "User:alice", Op::Read, Allow);
    let wildcard = acl(Topic, "*", Literal, "User:bob", Op::Write, Deny);
    let prefixed = acl(Topic, "ord", Prefixed, "User:alice", Op::Read, Allow);
    let group = acl(TransactionalId, "orders", Literal, "User:alice", Op::Write, Allow);
    let all = [&literal, &wildcard, &prefixed, &group];
    let matching = |f: &AclBindingFilter| {
        all.iter().filter(|a| f.matches(a)).map(|a| (*a).clone()).collect::<Vec<_>>()
    };
    assert_eq!(matching(&AclBindingFilter::any()).len(), 4);
    let by_name = AclBindingFilter {
        resource_type: Topic,
        resource_name: Some("orders".into()),
        ..AclBindingFilter::any()
    };
    assert_eq!(matching(&by_name), vec![literal.clone()], "ANY pattern: exact name");
    let applying = AclBindingFilter { pattern_type: PatternType::Match, ..by_name.clone() };
    assert_eq!(matching(&applying), vec![literal.clone(), wildcard.clone(), prefixed.clone()]);
    let prefixed_only =
        AclBindingFilter { pattern_type: Prefixed, resource_name: None, ..AclBindingFilter::any() };
    assert_eq!(matching(&prefixed_only), vec![prefixed.clone()]);
    let bobs = AclBindingFilter { principal: Some("User:bob".into()), ..AclBindingFilter::any() };
    assert_eq!(matching(&bobs), vec![wildcard.clone()]);
    let allows_of_read =
        AclBindingFilter { operation: Op::Read, permission: Allow, ..AclBindingFilter::any() };
    assert_eq!(matching(&allows_of_read), vec![literal, prefixed]);
}

#[test]
fn names_parse_in_both_spellings_and_codes_round_trip() {
    assert_eq!(AclOperation::parse("DescribeConfigs"), Some(Op::DescribeConfigs));
    assert_eq!(AclOperation::parse("DESCRIBE_CONFIGS"), Some(Op::DescribeConfigs));
    assert_eq!(AclOperation::parse("idempotent-write"), Some(Op::IdempotentWrite));
    assert_eq!(ResourceType::parse("transactional-id"), Some(TransactionalId));
    assert_eq!(PatternType::parse("prefixed"), Some(Prefixed));
    assert_eq!(AclOperation::parse("Reed"), None);
    for op in AclOperation::ALL {
        assert_eq!(AclOperation::from_code(op.code()), Some(*op));
    }
    assert_eq!(ResourceType::from_code(0), None, "UNKNOWN is not a value");
    assert_eq!(Op::IdempotentWrite.code(), 12);
    assert_eq!(TransactionalId.code(), 5);
}
