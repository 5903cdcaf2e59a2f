#!/bin/sh
# Once the three nodes run: the exporter's SCRAM user, its quota and its least-privilege ACLs
# (Describe on the Cluster, Group * and Topic *), with Kafka's own tools as the super user admin.
set -eu
bin=/opt/kafka/bin
connect="--bootstrap-server kafka-1:9092,kafka-2:9092,kafka-3:9092 --command-config /etc/kafka-lab/admin.properties"
# shellcheck disable=SC2086 # $connect is a list of options
$bin/kafka-configs.sh $connect --alter --entity-type users --entity-name lag-exporter \
  --add-config 'SCRAM-SHA-512=[iterations=8192,password=exporter-secret]'
# shellcheck disable=SC2086
$bin/kafka-configs.sh $connect --alter --entity-type users --entity-name lag-exporter \
  --add-config 'request_percentage=25'
# shellcheck disable=SC2086
$bin/kafka-acls.sh $connect --add --allow-principal User:lag-exporter --operation Describe \
  --cluster --group '*' --topic '*'
