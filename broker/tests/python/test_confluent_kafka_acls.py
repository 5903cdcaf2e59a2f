"""ACLs through confluent-kafka's AdminClient (librdkafka's CreateAcls/DescribeAcls/DeleteAcls),
and the per-resource DescribeConfigs authorization error that rust-rdkafka does not surface."""

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

AUTHORIZER = "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"


JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    'user_alice="alice-secret" user_bob="bob-secret";'
)
SECURED = [
    AUTHORIZER,
    "super.users=User:ANONYMOUS",
    f"listener.name.sasl_plaintext.plain.sasl.jaas.config={JAAS}",
]


def _admin(bootstrap, **extra):
    return AdminClient({"bootstrap.servers": bootstrap, **extra})


def _alice_reads_orders():
    return [
        AclBinding(ResourceType.TOPIC, "orders", ResourcePatternType.LITERAL, "User:alice", "*",
                   AclOperation.READ, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, "team.", ResourcePatternType.PREFIXED, "User:alice", "*",
                   AclOperation.DESCRIBE_CONFIGS, AclPermissionType.ALLOW),
        AclBinding(ResourceType.GROUP, "*", ResourcePatternType.LITERAL, "User:*", "*",
                   AclOperation.DESCRIBE, AclPermissionType.DENY),
    ]


@pytest.mark.parametrize("broker", [SECURED], indirect=True)
def test_create_describe_delete_acls(broker):
    admin = _admin(broker.bootstrap)
    for future in admin.create_acls(_alice_reads_orders()).values():
        future.result(timeout=15)
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                  AclOperation.ANY, AclPermissionType.ANY)
    described = admin.describe_acls(everything).result(timeout=15)
    assert sorted(map(str, described)) == sorted(map(str, _alice_reads_orders()))

    # MATCH: every ACL that applies to topic team.payroll (the PREFIXED one only).
    applying = AclBindingFilter(ResourceType.TOPIC, "team.payroll", ResourcePatternType.MATCH,
                                None, None, AclOperation.ANY, AclPermissionType.ANY)
    matched = admin.describe_acls(applying).result(timeout=15)
    assert [b.name for b in matched] == ["team."]

    alices = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, "User:alice", None,
                              AclOperation.ANY, AclPermissionType.ANY)
    deleted = admin.delete_acls([alices])[alices].result(timeout=15)
    assert len(deleted) == 2
    remaining = admin.describe_acls(everything).result(timeout=15)
    assert [b.principal for b in remaining] == ["User:*"]


@pytest.mark.parametrize("broker", [SECURED], indirect=True)
def test_invalid_acl_is_refused(broker):
    admin = _admin(broker.bootstrap)
    cluster = AclBinding(ResourceType.BROKER, "not-kafka-cluster", ResourcePatternType.LITERAL,
                         "User:alice", "*", AclOperation.ALTER, AclPermissionType.ALLOW)
    with pytest.raises(KafkaException) as refused:
        admin.create_acls([cluster])[cluster].result(timeout=15)
    assert refused.value.args[0].code() == KafkaError.INVALID_REQUEST


@pytest.mark.parametrize("broker", [[]], indirect=True)
def test_without_authorizer_acl_apis_are_security_disabled(broker):
    admin = _admin(broker.bootstrap)
    binding = _alice_reads_orders()[0]
    with pytest.raises(KafkaException) as disabled:
        admin.create_acls([binding])[binding].result(timeout=15)
    assert disabled.value.args[0].code() == KafkaError.SECURITY_DISABLED


@pytest.mark.parametrize("sasl_broker", [SECURED], indirect=True)
def test_describe_configs_denial_carries_topic_authorization_failed(sasl_broker):
    admin = _admin(sasl_broker.bootstrap)
    for future in admin.create_topics([NewTopic("team.payroll", 1), NewTopic("orders", 1)]).values():
        future.result(timeout=15)
    for future in admin.create_acls(_alice_reads_orders()).values():
        future.result(timeout=15)

    def describe(user, topic):
        client = _admin(sasl_broker.sasl_bootstrap, **{
            "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
            "sasl.username": user, "sasl.password": f"{user}-secret"})
        resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
        return client.describe_configs([resource])[resource].result(timeout=15)

    assert "retention.ms" in describe("alice", "team.payroll")
    for user, topic in [("alice", "orders"), ("bob", "team.payroll")]:
        with pytest.raises(KafkaException) as denied:
            describe(user, topic)
        assert denied.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, (user, topic)
