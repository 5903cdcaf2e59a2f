//! The controller's cluster logic against the real broker binary: two more brokers register
//! and heartbeat over the wire (BrokerRegistration, BrokerHeartbeat) with fake endpoints, topics
//! are placed over all three, a broker whose heartbeats stop is fenced after
//! `broker.session.timeout.ms` and loses its leaderships and ISR memberships, and the
//! registration and AlterPartition refusals carry Kafka's error codes.

// Drives the real binary from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_lab_broker::network::NodeClient;
use kafka_lab_broker::tcp::TcpConnector;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_request::{BrokerState, PartitionData, TopicData};
use kafka_protocol::messages::broker_registration_request::{Feature, Listener};
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::{
    AlterPartitionRequest, BrokerHeartbeatRequest, BrokerId, BrokerRegistrationRequest,
    CreateTopicsRequest, DescribeClusterRequest, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use support::TestBroker;
use uuid::Uuid;

const SESSION_TIMEOUT_MS: u64 = 1500;

fn client(broker: &TestBroker) -> NodeClient {
    NodeClient::new(
        Arc::new(TcpConnector),
        "127.0.0.1",
        broker.port,
        "controller-test",
        Duration::from_secs(10),
    )
}

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

/// Broker `id`'s registration with a fake endpoint.
fn registration(cluster_id: &str, id: i32, incarnation: u128) -> BrokerRegistrationRequest {
    BrokerRegistrationRequest::default()
        .with_broker_id(BrokerId(id))
        .with_cluster_id(s(cluster_id))
        .with_incarnation_id(Uuid::from_u128(incarnation))
        // No broker.rack, as this node (the generated default is an empty rack name).
        .with_rack(None)
        .with_listeners(vec![Listener::default()
            .with_name(s("PLAINTEXT"))
            .with_host(s("localhost"))
            .with_port(19090 + id as u16)])
        .with_features(vec![Feature::default()
            .with_name(s("metadata.version"))
            .with_min_supported_version(7)
            .with_max_supported_version(27)])
}

async fn register(client: &mut NodeClient, request: &BrokerRegistrationRequest) -> (i16, i64) {
    let (_, response) = client.call(request).await.unwrap();
    (response.error_code, response.broker_epoch)
}

/// A heartbeat reporting the metadata log replayed up to `offset`: (error, caught up, fenced).
async fn heartbeat(client: &mut NodeClient, id: i32, epoch: i64, offset: i64) -> (i16, bool, bool) {
    let request = BrokerHeartbeatRequest::default()
        .with_broker_id(BrokerId(id))
        .with_broker_epoch(epoch)
        .with_current_metadata_offset(offset);
    let (_, response) = client.call(&request).await.unwrap();
    (response.error_code, response.is_caught_up, response.is_fenced)
}

async fn metadata(client: &mut NodeClient, topic: &str) -> MetadataResponse {
    let request = MetadataRequest::default().with_topics(Some(vec![
        kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
            .with_name(Some(TopicName(s(topic)))),
    ]));
    client.call(&request).await.unwrap().1
}

fn broker_ids(metadata: &MetadataResponse) -> Vec<i32> {
    metadata.brokers.iter().map(|b| b.node_id.0).collect()
}

#[tokio::test]
async fn brokers_register_heartbeat_get_replicas_and_are_fenced_when_silent() {
    let broker = TestBroker::start_with(&[
        &format!("broker.session.timeout.ms={SESSION_TIMEOUT_MS}"),
        "broker.heartbeat.interval.ms=100",
        "auto.create.topics.enable=false",
    ]);
    let mut client = client(&broker);
    let (_, cluster) = client.call(&DescribeClusterRequest::default()).await.unwrap();
    let cluster_id = cluster.cluster_id.to_string();

    // Nodes 2 and 3 register fenced, at new epochs, and are unfenced once caught up.
    let (error, epoch2) = register(&mut client, &registration(&cluster_id, 2, 2)).await;
    assert_eq!(error, 0);
    let (error, epoch3) = register(&mut client, &registration(&cluster_id, 3, 3)).await;
    assert_eq!(error, 0);
    assert!(epoch3 > epoch2 && epoch2 > 0, "{epoch2} {epoch3}");
    assert_eq!(broker_ids(&metadata(&mut client, "none").await), [1], "fenced: not listed");
    assert_eq!(heartbeat(&mut client, 2, epoch2, epoch2 - 1).await, (0, false, true));
    // Node 2's last heartbeat: its session can expire no earlier than a timeout after this.
    let last_heard_from_2 = Instant::now();
    assert_eq!(heartbeat(&mut client, 2, epoch2, epoch2).await, (0, true, false));
    assert_eq!(heartbeat(&mut client, 3, epoch3, epoch3).await, (0, true, false));
    let stale = heartbeat(&mut client, 3, epoch3 + 1, epoch3).await;
    assert_eq!(stale.0, ResponseError::StaleBrokerEpoch.code());
    assert_eq!(broker_ids(&metadata(&mut client, "none").await), [1, 2, 3]);

    // RF 3: every partition on all three brokers, leaders spread one each.
    let create = CreateTopicsRequest::default().with_timeout_ms(5000).with_topics(vec![
        CreatableTopic::default()
            .with_name(TopicName(s("spread")))
            .with_num_partitions(3)
            .with_replication_factor(3),
    ]);
    let (_, created) = client.call(&create).await.unwrap();
    assert_eq!(created.topics[0].error_code, 0, "{:?}", created.topics[0].error_message);
    let described = metadata(&mut client, "spread").await;
    let partitions = &described.topics[0].partitions;
    let leaders: BTreeSet<i32> = partitions.iter().map(|p| p.leader_id.0).collect();
    assert_eq!(leaders, BTreeSet::from([1, 2, 3]), "{partitions:?}");
    for p in partitions {
        let replicas: BTreeSet<i32> = p.replica_nodes.iter().map(|b| b.0).collect();
        assert_eq!(replicas, BTreeSet::from([1, 2, 3]));
        assert_eq!(p.isr_nodes.len(), 3);
    }
    // Replicas assigned by hand are taken as given, the first leading.
    let assigned = |partition: i32, brokers: [i32; 2]| {
        CreatableReplicaAssignment::default()
            .with_partition_index(partition)
            .with_broker_ids(brokers.into_iter().map(BrokerId).collect())
    };
    let manual = CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
        .with_name(TopicName(s("manual")))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_assignments(vec![assigned(0, [3, 1]), assigned(1, [2, 3])])]);
    let (_, created) = client.call(&manual).await.unwrap();
    assert_eq!(created.topics[0].error_code, 0, "{:?}", created.topics[0].error_message);
    let described = metadata(&mut client, "manual").await;
    let layout: Vec<(i32, Vec<i32>)> = described.topics[0]
        .partitions
        .iter()
        .map(|p| (p.leader_id.0, p.replica_nodes.iter().map(|b| b.0).collect()))
        .collect();
    assert_eq!(layout, [(3, vec![3, 1]), (2, vec![2, 3])]);

    let too_many = CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
        .with_name(TopicName(s("four")))
        .with_num_partitions(1)
        .with_replication_factor(4)]);
    let (_, refused) = client.call(&too_many).await.unwrap();
    assert_eq!(refused.topics[0].error_code, ResponseError::InvalidReplicationFactor.code());

    // Node 3 keeps heartbeating; node 2 falls silent.
    let stop = Arc::new(AtomicBool::new(false));
    let keep_alive = {
        let stop = stop.clone();
        let mut client3 = self::client(&broker);
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let (error, _, fenced) = heartbeat(&mut client3, 3, epoch3, i64::MAX).await;
                assert_eq!((error, fenced), (0, false));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let led_by_2: BTreeSet<i32> =
        partitions.iter().filter(|p| p.leader_id.0 == 2).map(|p| p.partition_index).collect();
    let deadline = Instant::now() + Duration::from_secs(15);
    let fenced = loop {
        let now = metadata(&mut client, "spread").await;
        if !broker_ids(&now).contains(&2) {
            break now;
        }
        assert!(Instant::now() < deadline, "node 2 was never fenced");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        last_heard_from_2.elapsed() >= Duration::from_millis(SESSION_TIMEOUT_MS),
        "fenced before its session expired: {:?}",
        last_heard_from_2.elapsed()
    );
    assert_eq!(broker_ids(&fenced), [1, 3], "this node's own broker is never fenced");
    for p in &fenced.topics[0].partitions {
        assert!(p.leader_id.0 == 1 || p.leader_id.0 == 3, "{p:?}");
        assert!(!p.isr_nodes.contains(&BrokerId(2)), "{p:?}");
        assert_eq!(p.replica_nodes.len(), 3, "replicas stay assigned");
        // A new leader is a new leader epoch; an ISR shrink alone keeps it.
        let moved = led_by_2.contains(&p.partition_index);
        assert_eq!(p.leader_epoch, i32::from(moved), "{p:?}");
    }
    // Node 2 restarts: fenced, it has no live session, so its new incarnation registers at
    // once, at a new epoch.
    let (error, epoch2_again) = register(&mut client, &registration(&cluster_id, 2, 22)).await;
    assert_eq!(error, 0);
    assert!(epoch2_again > epoch3, "{epoch2_again}");

    // Another process claiming node 3 while node 3's session lives is refused; so is another
    // cluster.
    let (error, _) = register(&mut client, &registration(&cluster_id, 3, 33)).await;
    assert_eq!(error, ResponseError::DuplicateBrokerRegistration.code());
    let (error, _) = register(&mut client, &registration("AAAAAAAAAAAAAAAAAAAAAA", 4, 4)).await;
    assert_eq!(error, ResponseError::InconsistentClusterId.code());

    // AlterPartition from node 3 as leader, at a partition epoch the ISR change passed.
    let led_by_3 = fenced.topics[0].partitions.iter().find(|p| p.leader_id.0 == 3).unwrap();
    let topic_id = fenced.topics[0].topic_id;
    let alter = AlterPartitionRequest::default()
        .with_broker_id(BrokerId(3))
        .with_broker_epoch(epoch3)
        .with_topics(vec![TopicData::default().with_topic_id(topic_id).with_partitions(vec![
            PartitionData::default()
                .with_partition_index(led_by_3.partition_index)
                .with_leader_epoch(led_by_3.leader_epoch)
                .with_partition_epoch(0)
                .with_new_isr_with_epochs(vec![BrokerState::default()
                    .with_broker_id(BrokerId(3))
                    .with_broker_epoch(epoch3)]),
        ])]);
    let (_, altered) = client.call(&alter).await.unwrap();
    assert_eq!(altered.error_code, 0);
    let code = altered.topics[0].partitions[0].error_code;
    assert_eq!(code, ResponseError::InvalidUpdateVersion.code());

    stop.store(true, Ordering::SeqCst);
    keep_alive.await.unwrap();
}
