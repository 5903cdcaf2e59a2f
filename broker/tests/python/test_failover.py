"""Python clients against a three-node cluster (the `cluster` fixture) while a partition
leader is killed with SIGKILL: confluent-kafka's idempotent acks=all producer loses and
duplicates nothing it was told was delivered; kafka-python's and confluent-kafka's admin
clients and `kcat -L` show the leader and the ISR move off the dead broker and the ISR
grow back once it returns."""

import json
import subprocess
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka.admin import KafkaAdminClient

FULL_ISR = [1, 2, 3]


def _eventually(what, check, within=30.0):
    """Polls `check` (returning (ok, seen)) until ok; fails with the last seen value."""
    deadline = time.time() + within
    while True:
        ok, seen = check()
        if ok:
            return seen
        assert time.time() < deadline, f"{what}: last seen {seen}"
        time.sleep(0.2)


def _create_topic(cluster, topic, partitions):
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=3,
                                            config={"min.insync.replicas": "2"})])
    for f in futures.values():
        f.result(timeout=15)
    _eventually(f"{topic} fully in sync", lambda: _all_full(_confluent_view(cluster, topic), partitions))


def _all_full(view, partitions):
    ok = len(view) == partitions and all(l > 0 and isr == FULL_ISR for l, isr in view.values())
    return ok, view


def _confluent_view(cluster, topic):
    """confluent-kafka's list_topics: partition → (leader, sorted ISR)."""
    try:
        metadata = AdminClient({"bootstrap.servers": cluster.bootstrap}).list_topics(topic, timeout=5)
    except Exception as e:  # a dead bootstrap broker, a metadata timeout: seen, not fatal
        return {"error": str(e)}
    t = metadata.topics.get(topic)
    if t is None or t.error is not None:
        return {}
    return {p.id: (p.leader, sorted(p.isrs)) for p in t.partitions.values()}


def _kafka_python_view(cluster, topic):
    """kafka-python's KafkaAdminClient.describe_topics: partition → (leader, sorted ISR)."""
    admin = None
    try:
        admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap, request_timeout_ms=5000)
        described = admin.describe_topics([topic])
    except Exception as e:
        return {"error": str(e)}
    finally:
        if admin is not None:
            admin.close()
    # kafka-python 3 names the fields as Kafka's MetadataResponse schema does.
    return {p["partition_index"]: (p["leader_id"], sorted(p["isr_nodes"]))
            for p in described[0]["partitions"]}


def _kcat_view(cluster, topic):
    """`kcat -L -J`: partition → (leader, sorted ISR)."""
    out = subprocess.run(["kcat", "-L", "-J", "-b", cluster.bootstrap, "-t", topic, "-m", "5"],
                         capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        return {"error": out.stderr[-300:]}
    t = next((t for t in json.loads(out.stdout)["topics"] if t["topic"] == topic), None)
    if t is None:
        return {}
    return {p["partition"]: (p["leader"], sorted(r["id"] for r in p["isrs"])) for p in t["partitions"]}


def _a_partition_led_by_a_broker(view):
    """A partition whose leader is not the controller (node 1 must stay up)."""
    return next((p, l) for p, (l, _) in sorted(view.items()) if l != 1)


def _read_all(cluster, topic, partitions):
    """Every record below each partition's high watermark: (partition, offset) → value."""
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "failover-reader",
                         "enable.auto.commit": False})
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)[1]
            for p in range(partitions)}
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    read = {}
    deadline = time.time() + 60
    while not all(end == 0 or (p, end - 1) in read for p, end in ends.items()):
        assert time.time() < deadline, f"reading back timed out with {len(read)} records"
        m = consumer.poll(0.5)
        if m is None or m.error():
            continue
        assert (m.partition(), m.offset()) not in read, f"{m.partition()}-{m.offset()} read twice"
        read[(m.partition(), m.offset())] = m.value().decode()
    consumer.close()
    return read


def test_confluent_kafka_idempotent_producer_loses_nothing_acknowledged_over_a_leader_kill9(cluster):
    topic, partitions = "payments", 3
    _create_topic(cluster, topic, partitions)
    partition, victim = _a_partition_led_by_a_broker(_confluent_view(cluster, topic))

    acked, failed = {}, []

    def delivered(err, msg):
        if err is None:
            acked[(msg.partition(), msg.offset())] = msg.value().decode()
        else:
            failed.append(err)

    producer = Producer({"bootstrap.servers": cluster.bootstrap, "enable.idempotence": True,
                         "acks": "all", "linger.ms": 5, "message.timeout.ms": 30000})
    sent = 0

    def produce_until(what, done, within=30.0):
        nonlocal sent
        deadline = time.time() + within
        while not done():
            assert time.time() < deadline, f"{what}: {len(acked)} acked, {len(failed)} failed"
            for _ in range(50):
                producer.produce(topic, key=str(sent), value=f"payment-{sent}", on_delivery=delivered)
                sent += 1
            producer.poll(0.02)

    on_victim = lambda: sum(1 for p, _ in acked if p == partition)
    produce_until("records acknowledged by the first leader", lambda: on_victim() >= 200)
    before = on_victim()
    cluster.nodes[victim].kill9()
    produce_until("acks=all produce continues on the new leader", lambda: on_victim() >= before + 300)
    cluster.nodes[victim].start_again()
    produce_until("the restarted broker back in every ISR",
                  lambda: _all_full(_confluent_view(cluster, topic), partitions)[0], within=60)
    assert producer.flush(30) == 0

    read = _read_all(cluster, topic, partitions)
    lost = [(at, v, read.get(at)) for at, v in sorted(acked.items()) if read.get(at) != v]
    assert lost == [], f"{len(lost)} acknowledged records lost or changed: {lost[:10]}"
    values = list(read.values())
    assert len(values) == len(set(values)), "a record was written twice (idempotence)"
    print(f"{len(acked)} acknowledged, {len(failed)} failed, node {victim} killed leading {topic}-{partition}")


def test_admin_clients_and_kcat_show_the_leader_and_isr_move_and_come_back(cluster):
    topic, partitions = "ledger", 3
    _create_topic(cluster, topic, partitions)
    views = {"kafka-python": _kafka_python_view, "confluent-kafka": _confluent_view, "kcat": _kcat_view}
    for name, view in views.items():
        _eventually(f"{name}: every partition led with the full ISR",
                    lambda: _all_full(view(cluster, topic), partitions))
    partition, victim = _a_partition_led_by_a_broker(_confluent_view(cluster, topic))

    cluster.nodes[victim].kill9()

    def moved(view):
        seen = view(cluster, topic)
        if "error" in seen or len(seen) != partitions:
            return False, seen
        leader, isr = seen[partition]
        survivors = [n for n in FULL_ISR if n != victim]
        ok = leader in survivors and isr == survivors and all(l != victim for l, _ in seen.values())
        return ok, seen

    for name, view in views.items():
        _eventually(f"{name}: node {victim} no longer leads {topic}-{partition} nor is in its ISR",
                    lambda: moved(view))

    cluster.nodes[victim].start_again()
    for name, view in views.items():
        _eventually(f"{name}: node {victim} back in every ISR",
                    lambda: _all_full(view(cluster, topic), partitions), within=60)
