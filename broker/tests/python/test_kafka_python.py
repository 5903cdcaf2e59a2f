"""kafka-python 3.x, unmodified, against kafka-lab-broker."""

import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError


def test_admin_create_and_delete_topic(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, client_id="py-admin")
    admin.create_topics([NewTopic("py-topic", num_partitions=3, replication_factor=1)])
    assert "py-topic" in admin.list_topics()
    try:
        admin.create_topics([NewTopic("py-topic", num_partitions=1, replication_factor=1)])
        raise AssertionError("creating an existing topic must fail")
    except TopicAlreadyExistsError:
        pass
    described = admin.describe_topics(["py-topic"])
    assert len(described[0]["partitions"]) == 3
    admin.delete_topics(["py-topic"])
    deadline = time.time() + 10
    while "py-topic" in admin.list_topics():
        assert time.time() < deadline
        time.sleep(0.1)
    try:
        admin.delete_topics(["py-topic"])
        raise AssertionError("deleting a missing topic must fail")
    except UnknownTopicOrPartitionError:
        pass
    admin.close()


def test_produce_group_consume_and_list_group_offsets(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([NewTopic("payments", num_partitions=2, replication_factor=1)])
    # As in the course material: idempotent, acks=all.
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", enable_idempotence=True)
    sent = {f"payment-{i}".encode() for i in range(200)}
    for value in sorted(sent):
        producer.send("payments", key=b"k" + value[-1:], value=value)
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(
        "payments",
        bootstrap_servers=broker.bootstrap,
        group_id="billing",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=15000,
    )
    received = set()
    for message in consumer:
        received.add(message.value)
        if len(received) == len(sent):
            break
    assert received == sent
    consumer.commit()
    committed = {tp.partition: consumer.committed(tp) for tp in consumer.assignment()}
    consumer.close()

    # OffsetFetch v8+ batched layout, one request for several groups.
    offsets = admin.list_group_offsets(["billing", "nobody"])
    assert {tp.partition: meta.offset for tp, meta in offsets["billing"].items()} == committed
    assert offsets["nobody"] == {}
    assert sum(committed.values()) == 200
    groups = admin.list_groups()
    names = [g["group_id"] if isinstance(g, dict) else g[0] for g in groups]
    assert "billing" in names, groups
    admin.close()


def test_assign_and_seek(broker):
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for i in range(10):
        producer.send("seekable", value=f"v{i}".encode(), partition=0)
    producer.flush()
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, consumer_timeout_ms=10000)
    tp = TopicPartition("seekable", 0)
    consumer.assign([tp])
    consumer.seek(tp, 7)
    values = [m.value for m in consumer][:3]
    assert values == [b"v7", b"v8", b"v9"]
    assert consumer.end_offsets([tp])[tp] == 10
    assert consumer.beginning_offsets([tp])[tp] == 0
    consumer.close()


def test_cluster_delete_records_and_group_cleanup(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    cluster = admin.describe_cluster()
    assert cluster["controller_id"] == 1
    assert [b.get("broker_id", b.get("node_id")) for b in cluster["brokers"]] == [1]
    assert len(cluster["cluster_id"]) == 22

    admin.create_topics([NewTopic("trimmed", num_partitions=1, replication_factor=1)])
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for i in range(30):
        producer.send("trimmed", value=f"r{i}".encode(), partition=0)
    producer.flush()
    tp = TopicPartition("trimmed", 0)
    result = admin.delete_records({tp: 12})
    low = result[tp]["low_watermark"] if isinstance(result[tp], dict) else result[tp]
    assert low == 12
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="trim-readers",
                             enable_auto_commit=False, consumer_timeout_ms=10000)
    assert consumer.beginning_offsets([tp])[tp] == 12
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    first = next(iter(consumer))
    assert (first.offset, first.value) == (12, b"r12")
    consumer.commit()
    consumer.close()

    assert admin.list_group_offsets(["trim-readers"])["trim-readers"][tp].offset == 13
    admin.delete_group_offsets("trim-readers", [tp])
    assert admin.list_group_offsets(["trim-readers"])["trim-readers"] == {}
    admin.delete_groups(["trim-readers"])
    names = [g["group_id"] if isinstance(g, dict) else g[0] for g in admin.list_groups()]
    assert "trim-readers" not in names
    admin.close()
