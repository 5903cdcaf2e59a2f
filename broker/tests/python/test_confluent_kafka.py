"""confluent-kafka (Python binding of librdkafka), unmodified, against kafka-lab-broker."""

import time

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def _wait(futures):
    return {k: f.result(timeout=15) for k, f in futures.items()}


def test_admin_create_and_delete_topic(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    _wait(admin.create_topics([NewTopic("ck-topic", num_partitions=4, replication_factor=1)]))
    metadata = admin.list_topics(timeout=10)
    assert len(metadata.topics["ck-topic"].partitions) == 4
    try:
        _wait(admin.create_topics([NewTopic("ck-topic", num_partitions=1, replication_factor=1)]))
        raise AssertionError("creating an existing topic must fail")
    except KafkaException as e:
        assert e.args[0].name() == "TOPIC_ALREADY_EXISTS"
    _wait(admin.delete_topics(["ck-topic"]))
    assert "ck-topic" not in admin.list_topics(timeout=10).topics


def test_idempotent_produce_group_consume_and_list_offsets(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    _wait(admin.create_topics([NewTopic("clicks", num_partitions=3, replication_factor=1)]))
    producer = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "linger.ms": 5})
    errors = []
    for i in range(600):
        producer.produce("clicks", key=str(i % 7), value=f"click-{i}",
                         on_delivery=lambda err, msg: err and errors.append(err))
    assert producer.flush(15) == 0
    assert errors == []

    consumer = Consumer({
        "bootstrap.servers": broker.bootstrap,
        "group.id": "analytics",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe(["clicks"])
    values = set()
    deadline = time.time() + 30
    while len(values) < 600:
        assert time.time() < deadline, f"consumed {len(values)} of 600"
        message = consumer.poll(0.2)
        if message is None:
            continue
        assert message.error() is None, message.error()
        values.add(message.value().decode())
    assert values == {f"click-{i}" for i in range(600)}
    consumer.commit(asynchronous=False)
    consumer.close()

    result = _wait(admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions("analytics")]))
    partitions = result["analytics"].topic_partitions
    assert sum(tp.offset for tp in partitions) == 600
    groups = admin.list_consumer_groups().result(timeout=10)
    assert "analytics" in [g.group_id for g in groups.valid]
    described = _wait(admin.describe_consumer_groups(["analytics"]))
    assert described["analytics"].group_id == "analytics"


def test_offsets_for_times_and_watermarks(broker):
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    base = 1_700_000_000_000
    for i in range(20):
        producer.produce("timed", value=f"t{i}", partition=0, timestamp=base + i * 1000)
    producer.flush(10)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "timed-reader"})
    found = consumer.offsets_for_times([TopicPartition("timed", 0, base + 10_000)], timeout=10)
    assert found[0].offset == 10
    assert consumer.get_watermark_offsets(TopicPartition("timed", 0), timeout=10) == (0, 20)
    consumer.close()
