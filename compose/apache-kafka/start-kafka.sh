#!/bin/sh
# Starts one node of compose/apache-kafka: writes its server.properties (the shared file plus
# node.id and advertised.listeners), formats its log directory on first start with the SCRAM
# users the cluster needs before it can authenticate anyone (`kafka`, inter-broker; `admin`,
# the operator), then runs Kafka with the JMX Prometheus exporter agent on :9404.
set -eu
: "${NODE_ID:?}" "${EXTERNAL_PORT:?}" "${CLUSTER_ID:?}"
config=/tmp/server.properties
{
  cat /etc/kafka-lab/server.properties
  echo "node.id=$NODE_ID"
  echo "advertised.listeners=INTERNAL://kafka-$NODE_ID:9092,EXTERNAL://localhost:$EXTERNAL_PORT"
} >"$config"
/opt/kafka/bin/kafka-storage.sh format --config "$config" --cluster-id "$CLUSTER_ID" \
  --ignore-formatted \
  --add-scram 'SCRAM-SHA-512=[name=kafka,password=kafka-secret]' \
  --add-scram 'SCRAM-SHA-512=[name=admin,password=admin-secret]'
export KAFKA_OPTS="-javaagent:/opt/jmx-exporter/jmx_prometheus_javaagent.jar=9404:/etc/kafka-lab/jmx-exporter.yaml"
export LOG_DIR=/tmp/kafka-logs
exec /opt/kafka/bin/kafka-server-start.sh "$config"
