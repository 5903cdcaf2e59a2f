//! The broker's outbound seam inside the simulator: a node's `NodeClient` over turmoil TCP
//! reaches a simulated broker, loses it while their link is cut, and reaches it again once the
//! link is repaired — what a follower's fetcher will see.

use std::sync::Arc;
use std::time::Duration;

use kafka_lab_broker::network::{NodeClient, NodeRequestError};
use kafka_lab_chaos::history::History;
use kafka_lab_chaos::hosts::broker::{BrokerHost, PORT};
use kafka_lab_chaos::hosts::network::TurmoilConnector;
use kafka_protocol::messages::{BrokerId, MetadataRequest};

#[test]
fn a_node_client_follows_its_link_being_cut_and_repaired() {
    let mut sim = turmoil::Builder::new().simulation_duration(Duration::from_secs(120)).build();
    let config = kafka_lab_chaos::SimConfig { seed: 7, partitions: 1, ..Default::default() };
    let broker = BrokerHost::new(1, &config, History::default()).unwrap();
    broker.install(&mut sim);
    let leader = broker.name();
    sim.client("broker-2", async move {
        let mut client = NodeClient::new(
            Arc::new(TurmoilConnector),
            &leader,
            PORT,
            "broker-2-fetcher-0",
            Duration::from_secs(2),
        );
        // The broker host needs a moment to open its logs and listen.
        let mut metadata = None;
        for _ in 0..50 {
            match client.call(&MetadataRequest::default()).await {
                Ok((_, response)) => {
                    metadata = Some(response);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let metadata = metadata.expect("the simulated broker answers");
        let brokers: Vec<_> =
            metadata.brokers.iter().map(|b| (b.node_id, b.host.to_string(), b.port)).collect();
        assert_eq!(brokers, [(BrokerId(1), "broker-1".to_owned(), i32::from(PORT))]);

        turmoil::partition("broker-2", leader.as_str());
        let err = client.call(&MetadataRequest::default()).await.unwrap_err();
        assert!(
            matches!(err, NodeRequestError::Timeout { .. } | NodeRequestError::Connect { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("broker-1:9092"), "{err}");

        turmoil::repair("broker-2", leader.as_str());
        let (_, again) = client.call(&MetadataRequest::default()).await.unwrap();
        assert_eq!(again.brokers.len(), 1);
        Ok(())
    });
    sim.run().unwrap();
}
