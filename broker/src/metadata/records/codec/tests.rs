use super::*;
use crate::quota::EntityName;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn topic_id() -> Uuid {
    Uuid::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10)
}

/// One of every record type, with every optional part present somewhere.
fn every_record() -> Vec<MetadataRecord> {
    let registration = RegisterBrokerRecord {
        broker_id: 2,
        incarnation_id: Uuid::from_u128(7),
        broker_epoch: 41,
        endpoints: vec![BrokerEndpoint {
            name: "PLAINTEXT".into(),
            host: "localhost".into(),
            port: 9094,
            security_protocol: 0,
        }],
        features: vec![BrokerFeature {
            name: "metadata.version".into(),
            min_supported_version: 7,
            max_supported_version: 27,
        }],
        rack: Some("r1".into()),
        fenced: true,
        in_controlled_shutdown: false,
    };
    let mut change = PartitionChangeRecord::new(topic_id(), 3);
    change.isr = Some(vec![1, 2]);
    change.leader = 2;
    change.leader_recovery_state = 0;
    // A reassignment's fields too: their tags (2-4) come after the leader's (1).
    change.replicas = Some(vec![2, 1, 3]);
    change.removing_replicas = Some(vec![3]);
    change.adding_replicas = Some(vec![2]);
    let partition = PartitionRecord {
        leader_recovery_state: 1,
        leader_epoch: 5,
        partition_epoch: 9,
        removing_replicas: vec![3],
        adding_replicas: vec![4],
        ..PartitionRecord::new(topic_id(), 3, vec![1, 2, 3])
    };
    vec![
        MetadataRecord::RegisterBroker(registration),
        MetadataRecord::UnregisterBroker { broker_id: 2, broker_epoch: 41 },
        MetadataRecord::Topic { name: "orders".into(), topic_id: topic_id() },
        MetadataRecord::Partition(partition),
        MetadataRecord::Config {
            resource: ConfigResource::Topic("orders".into()),
            name: "retention.ms".into(),
            value: Some("1000".into()),
        },
        MetadataRecord::Config {
            resource: ConfigResource::Broker,
            name: "log.retention.ms".into(),
            value: None,
        },
        MetadataRecord::PartitionChange(change),
        MetadataRecord::PartitionChange(PartitionChangeRecord::new(topic_id(), 0)),
        MetadataRecord::FenceBroker { id: 2, epoch: 41 },
        MetadataRecord::UnfenceBroker { id: 2, epoch: 41 },
        MetadataRecord::RemoveTopic { topic_id: topic_id() },
        MetadataRecord::UserScramCredential {
            name: "alice".into(),
            mechanism: ScramMechanism::Sha512,
            credential: ScramCredential {
                salt: b"salt".to_vec(),
                iterations: 4096,
                stored_key: vec![1; 64],
                server_key: vec![2; 64],
            },
        },
        MetadataRecord::FeatureLevel { name: "metadata.version".into(), feature_level: 27 },
        MetadataRecord::ClientQuota {
            entity: ClientQuotaEntity {
                user: Some(EntityName::Name("alice".into())),
                client_id: Some(EntityName::Default),
            },
            key: "producer_byte_rate".into(),
            value: Some(QuotaValue(1024.5)),
        },
        MetadataRecord::ClientQuota {
            entity: ClientQuotaEntity { user: None, client_id: Some(EntityName::Name("c".into())) },
            key: "request_percentage".into(),
            value: None,
        },
        MetadataRecord::ProducerIds { broker_id: 1, broker_epoch: -1, next_producer_id: 2000 },
        MetadataRecord::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
            broker_id: 2,
            broker_epoch: 41,
            fenced: -1,
            in_controlled_shutdown: 1,
        }),
        MetadataRecord::AccessControlEntry {
            id: Uuid::from_u128(9),
            acl: AclBinding {
                resource_type: ResourceType::Topic,
                resource_name: "orders".into(),
                pattern_type: PatternType::Prefixed,
                principal: "User:alice".into(),
                host: "*".into(),
                operation: AclOperation::Write,
                permission: AclPermissionType::Deny,
            },
        },
        MetadataRecord::RemoveAccessControlEntry { id: Uuid::from_u128(9) },
        MetadataRecord::NoOp,
        MetadataRecord::RemoveUserScramCredential {
            name: "bob".into(),
            mechanism: ScramMechanism::Sha256,
        },
    ]
}

#[test]
fn every_record_type_reads_back_as_written() {
    for record in every_record() {
        let bytes = encode(&record);
        assert_eq!(decode(&bytes).as_ref(), Ok(&record), "{}", hex(&bytes));
        // Every truncation is an error, never a panic or a different record.
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "{record:?} cut at {len} decoded");
        }
    }
}

/// The bytes Kafka's `MetadataRecordSerde` writes for these records, worked out field by field
/// from Kafka's schemas (TopicRecord.json, ConfigRecord.json, PartitionChangeRecord.json,
/// ProducerIdsRecord.json): frame version, type and version as unsigned varints, compact
/// strings and arrays (length + 1), tagged fields as count, then tag, size and data each.
#[test]
fn records_are_written_in_kafkas_binary_form() {
    let id = "0102030405060708090a0b0c0d0e0f10";
    let cases = [
        (MetadataRecord::Topic { name: "foo".into(), topic_id: topic_id() }, {
            format!("01 02 00 04666f6f {id} 00")
        }),
        (
            MetadataRecord::Config {
                resource: ConfigResource::Topic("t".into()),
                name: "a".into(),
                value: None,
            },
            "01 04 00 02 0274 0261 00 00".to_owned(),
        ),
        (
            MetadataRecord::PartitionChange(PartitionChangeRecord {
                isr: Some(vec![1]),
                leader: 1,
                ..PartitionChangeRecord::new(topic_id(), 0)
            }),
            // Two tags: ISR (0) = [1] in 5 bytes, Leader (1) = 1 in 4 bytes.
            format!("01 05 00 00000000 {id} 02 00 05 02 00000001 01 04 00000001"),
        ),
        (
            MetadataRecord::ProducerIds { broker_id: 1, broker_epoch: -1, next_producer_id: 1000 },
            "01 0f 00 00000001 ffffffffffffffff 00000000000003e8 00".to_owned(),
        ),
        (MetadataRecord::NoOp, "01 14 00 00".to_owned()),
    ];
    for (record, expected) in cases {
        assert_eq!(hex(&encode(&record)), expected.replace(' ', ""), "{record:?}");
    }
}

#[test]
fn malformed_values_are_refused_with_what_is_wrong() {
    let topic = encode(&MetadataRecord::Topic { name: "t".into(), topic_id: topic_id() });
    let with = |patch: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = topic.to_vec();
        patch(&mut bytes);
        decode(&bytes).unwrap_err()
    };
    type Patch<'a> = &'a dyn Fn(&mut Vec<u8>);
    let cases: [(Patch, &str); 6] = [
        (&|b| b[0] = 0, "unknown frame version 0"),
        (&|b| b[1] = 99, "record type 99 version 0: unknown record type"),
        (&|b| b[2] = 1, "record type 2 version 1: versions above 0 are unknown"),
        (&|b| b.push(0), "1 byte(s) of garbage after record type 2"),
        (&|b| b[3] = 0x7f, "a string of 126 in"),
        (&|b| b[4] = 0xff, "not UTF-8"),
    ];
    for (patch, expected) in cases {
        let err = with(patch);
        assert!(err.contains(expected), "{expected}: {err}");
    }
    assert!(decode(&[0x01, 0x80, 0x80, 0x80, 0x80, 0x80]).unwrap_err().contains("type"));
    // Kafka refuses a broker config of one broker; this image keeps only cluster defaults.
    let per_broker = "01 04 00 04 0231 0261 00 00".replace(' ', "");
    let per_broker: Vec<u8> = (0..per_broker.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&per_broker[i..i + 2], 16).unwrap())
        .collect();
    assert!(decode(&per_broker).unwrap_err().contains("config of broker 1"));
}

/// A data directory written before this format holds one JSON object per record; it still
/// opens with the same metadata.
#[test]
fn records_of_earlier_kafka_lab_versions_are_read() {
    let id = topic_id();
    let cases = [
        (
            format!(r#"{{"type":"Topic","name":"t","topic_id":"{id}"}}"#),
            MetadataRecord::Topic { name: "t".into(), topic_id: id },
        ),
        (
            format!(
                r#"{{"type":"Partition","topic_id":"{id}","partition":2,"leader":1,"leader_epoch":3,"replicas":[1]}}"#
            ),
            MetadataRecord::Partition(PartitionRecord {
                leader_epoch: 3,
                partition_epoch: 3,
                ..PartitionRecord::new(id, 2, vec![1])
            }),
        ),
        (
            r#"{"type":"Config","resource":{"kind":"Broker"},"name":"x","value":null}"#.into(),
            MetadataRecord::Config {
                resource: ConfigResource::Broker,
                name: "x".into(),
                value: None,
            },
        ),
        (
            r#"{"type":"ProducerIds","next_producer_id":1000}"#.into(),
            MetadataRecord::ProducerIds { broker_id: -1, broker_epoch: -1, next_producer_id: 1000 },
        ),
    ];
    for (json, expected) in cases {
        assert_eq!(decode(json.as_bytes()), Ok(expected), "{json}");
    }
    assert!(decode(br#"{"type":"Nope"}"#).unwrap_err().contains("earlier kafka-lab"));
}
