//! The outbound seam on real TCP: `network::NodeClient` over `tcp::TcpConnector`, as a follower
//! or a broker reaching the controller will use it, against the real broker binary.

// Drives the real binary from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use kafka_lab_broker::network::{NodeClient, NodeRequestError};
use kafka_lab_broker::tcp::TcpConnector;
use kafka_protocol::messages::{ApiKey, BrokerId, DescribeClusterRequest, MetadataRequest};
use support::TestBroker;

#[tokio::test]
async fn a_node_client_negotiates_versions_calls_and_reconnects() {
    let mut broker = TestBroker::start();
    let mut client = NodeClient::new(
        Arc::new(TcpConnector),
        "127.0.0.1",
        broker.port,
        "broker-2-fetcher-0",
        Duration::from_secs(10),
    );
    let (version, metadata) = client.call(&MetadataRequest::default()).await.unwrap();
    let ours = kafka_lab_broker::handlers::api_versions::SUPPORTED
        .iter()
        .find(|(api, _, _)| *api == ApiKey::Metadata)
        .map(|(_, _, max)| *max);
    assert_eq!(Some(version), ours, "the highest Metadata version both sides support");
    let brokers: Vec<_> = metadata.brokers.iter().map(|b| (b.node_id, b.port)).collect();
    assert_eq!(brokers, [(BrokerId(1), i32::from(broker.port))]);

    // The broker goes away: the error names the address and the reason.
    broker.stop();
    let err = client.call(&DescribeClusterRequest::default()).await.unwrap_err();
    let address = format!("127.0.0.1:{}", broker.port);
    match &err {
        NodeRequestError::Io { address: a, .. } | NodeRequestError::Connect { address: a, .. } => {
            assert_eq!(a, &address, "{err}")
        }
        other => panic!("{other}"),
    }
    let err = client.call(&DescribeClusterRequest::default()).await.unwrap_err();
    assert!(
        matches!(err, NodeRequestError::Connect { .. }) && err.to_string().contains(&address),
        "{err}"
    );

    // Back: the next call reconnects and negotiates again.
    broker.start_again();
    let (_, cluster) = client.call(&DescribeClusterRequest::default()).await.unwrap();
    assert_eq!(cluster.controller_id, BrokerId(1));
}
