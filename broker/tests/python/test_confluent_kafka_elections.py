"""ElectLeaders through confluent-kafka's AdminClient (librdkafka's rd_kafka_ElectLeaders): the
per-partition errors Kafka answers, and CLUSTER_AUTHORIZATION_FAILED without Alter on the
Cluster. (Elections that move leaders run on three nodes in broker/tests/elections.rs.)"""

import pytest
from confluent_kafka import ElectionType, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

AUTHORIZER = "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"
JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    'user_alice="alice-secret";'
)


def _create(admin, name):
    for future in admin.create_topics([NewTopic(name, num_partitions=1)]).values():
        future.result(timeout=15)


def test_preferred_and_unclean_elections_answer_per_partition(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    _create(admin, "orders")
    wanted = [TopicPartition("orders", 0), TopicPartition("nope", 0)]
    for election in (ElectionType.PREFERRED, ElectionType.UNCLEAN):
        results = admin.elect_leaders(election, wanted).result(timeout=15)
        codes = {(tp.topic, tp.partition): err.code() for tp, err in results.items()}
        assert codes == {
            ("orders", 0): KafkaError.ELECTION_NOT_NEEDED,
            ("nope", 0): KafkaError.UNKNOWN_TOPIC_OR_PART,
        }, results
    # All partitions: those that need no election are left out.
    assert admin.elect_leaders(ElectionType.PREFERRED, None).result(timeout=15) == {}


@pytest.mark.parametrize(
    "sasl_broker",
    [[AUTHORIZER, "super.users=User:admin", f"listener.name.sasl_plaintext.plain.sasl.jaas.config={JAAS}"]],
    indirect=True,
)
def test_elections_need_alter_on_the_cluster(sasl_broker):
    alice = AdminClient({
        "bootstrap.servers": sasl_broker.sasl_bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "alice",
        "sasl.password": "alice-secret",
    })
    with pytest.raises(KafkaException) as denied:
        alice.elect_leaders(ElectionType.PREFERRED, [TopicPartition("orders", 0)]).result(timeout=15)
    assert denied.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
