"""SCRAM credentials administered through real clients' admin APIs (confluent-kafka and
kafka-python, AlterUserScramCredentials / DescribeUserScramCredentials), then used by
librdkafka to authenticate, before and after a broker restart."""

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
import kafka.admin


def _authenticates(broker, mechanism, user, password):
    producer = Producer({
        "bootstrap.servers": broker.sasl_bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": mechanism,
        "sasl.username": user,
        "sasl.password": password,
    })
    try:
        producer.list_topics(timeout=5)
        return True
    except KafkaException:
        return False


def _describe(admin, users=None):
    described = admin.describe_user_scram_credentials(users)
    if users is None:  # one future for every user
        return described.result(timeout=15)
    return {user: f.result(timeout=15) for user, f in described.items()}


def test_confluent_kafka_alters_scram_credentials_that_librdkafka_then_uses(sasl_broker):
    admin = AdminClient({"bootstrap.servers": sasl_broker.bootstrap})
    assert not _authenticates(sasl_broker, "SCRAM-SHA-256", "alice", "alice-secret")
    futures = admin.alter_user_scram_credentials([
        UserScramCredentialUpsertion("alice", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192), b"alice-secret"),
        UserScramCredentialUpsertion("bob", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), b"bob-secret", b"fixed-salt"),
    ])
    for f in futures.values():
        f.result(timeout=15)
    # Kafka's validation reaches the client as the error it expects.
    bad = admin.alter_user_scram_credentials([
        UserScramCredentialUpsertion("carol", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 10), b"x"),
    ])
    try:
        bad["carol"].result(timeout=15)
        raise AssertionError("10 iterations must be refused")
    except KafkaException as e:
        assert e.args[0].name() == "UNACCEPTABLE_CREDENTIAL"

    described = _describe(admin)
    assert sorted(described) == ["alice", "bob"]
    assert [(c.mechanism, c.iterations) for c in described["alice"].scram_credential_infos] == [
        (ScramMechanism.SCRAM_SHA_256, 8192)
    ]
    assert _authenticates(sasl_broker, "SCRAM-SHA-256", "alice", "alice-secret")
    assert _authenticates(sasl_broker, "SCRAM-SHA-512", "bob", "bob-secret")
    assert not _authenticates(sasl_broker, "SCRAM-SHA-256", "alice", "bob-secret")

    sasl_broker.restart()
    assert _authenticates(sasl_broker, "SCRAM-SHA-256", "alice", "alice-secret")
    admin = AdminClient({"bootstrap.servers": sasl_broker.bootstrap})
    for f in admin.alter_user_scram_credentials([
        UserScramCredentialDeletion("alice", ScramMechanism.SCRAM_SHA_256),
    ]).values():
        f.result(timeout=15)
    assert not _authenticates(sasl_broker, "SCRAM-SHA-256", "alice", "alice-secret")
    try:
        _describe(admin, ["alice"])
        raise AssertionError("alice has no credentials left")
    except KafkaException as e:
        assert e.args[0].name() == "RESOURCE_NOT_FOUND"
    log = sasl_broker.log_path.read_text()
    assert "alice-secret" not in log and "bob-secret" not in log


def test_kafka_python_alters_and_describes_scram_credentials(sasl_broker):
    admin = kafka.admin.KafkaAdminClient(bootstrap_servers=sasl_broker.bootstrap)
    result = admin.alter_user_scram_credentials([
        kafka.admin.UserScramCredentialUpsertion("dave", kafka.admin.ScramMechanism.SCRAM_SHA_512, "dave-secret", iterations=4096),
    ])
    assert result == {"dave": None}
    described = admin.describe_user_scram_credentials(["dave", "nobody"])
    assert described["dave"]["error"] is None
    assert described["dave"]["credential_infos"][0]["iterations"] == 4096
    assert described["nobody"]["error"] is not None
    admin.close()
    assert _authenticates(sasl_broker, "SCRAM-SHA-512", "dave", "dave-secret")
