//! `ReplicaManager`'s follower side: a follower restarted starts from its checkpointed high
//! watermark, and a leader that becomes a follower stops taking client appends.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use uuid::Uuid;

use super::*;
use crate::internal_records::encode_batch;
use crate::storage::{MemoryStorage, Storage};

const NOW: i64 = 1_700_000_000_000;
const TOPIC_ID: Uuid = Uuid::from_u128(9);

fn manager(storage: &Arc<dyn Storage>, node_id: i32) -> ReplicaManager {
    let logs = LogManager::open(storage.clone(), PathBuf::from("/data")).unwrap();
    ReplicaManager::new(node_id, Arc::new(Mutex::new(logs)))
}

fn follow(replicas: &ReplicaManager) -> Arc<Partition> {
    replicas.make_follower("t", 0, TOPIC_ID, 1, 0, LogConfig::default(), NOW).unwrap()
}

#[test]
fn a_restarted_follower_starts_from_its_checkpointed_high_watermark() {
    let leader_storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let leader = manager(&leader_storage, 1);
    let led = leader
        .make_leader("t", 0, TOPIC_ID, &LeaderAndIsr::alone(1, 0), LogConfig::default(), NOW)
        .unwrap();
    for _ in 0..3 {
        let mut batch = encode_batch(&[(None, Some(Bytes::from_static(b"v")))], NOW);
        led.append_as_leader(&mut batch, NOW, false).unwrap();
    }
    let bytes = led.read_log(|log| log.read(0, u32::MAX).unwrap());

    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let replicas = manager(&storage, 2);
    let partition = follow(&replicas);
    assert_eq!(partition.high_watermark(), 0, "no checkpoint yet");
    let mut records = BytesMut::from(&bytes[..]);
    partition.append_records_to_follower(0, 0, &mut records, 2, 0, NOW).unwrap();
    assert_eq!((partition.log_end_offset(), partition.high_watermark()), (3, 2));
    replicas.checkpoint_high_watermarks().unwrap();
    drop((partition, replicas));

    let restarted = follow(&manager(&storage, 2));
    assert_eq!(restarted.log_end_offset(), 3);
    assert_eq!(restarted.high_watermark(), 2, "from replication-offset-checkpoint");
}

#[test]
fn a_leader_made_follower_refuses_client_appends() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let replicas = manager(&storage, 1);
    let led = replicas
        .make_leader("t", 0, TOPIC_ID, &LeaderAndIsr::alone(1, 0), LogConfig::default(), NOW)
        .unwrap();
    let made = replicas.make_follower("t", 0, TOPIC_ID, 2, 1, LogConfig::default(), NOW).unwrap();
    assert!(Arc::ptr_eq(&led, &made), "the same partition, stepping down");
    assert_eq!(made.role(), Role::Follower { leader_id: 2, leader_epoch: 1 });
    let mut batch = encode_batch(&[(None, Some(Bytes::from_static(b"v")))], NOW);
    let refused = made.append_as_leader(&mut batch, NOW, false).unwrap_err();
    assert_eq!(refused.error, ResponseError::NotLeaderOrFollower);
}
