//! The operator's one act in a cluster run: CreateTopics of the topic under test with its
//! replication factor, `min.insync.replicas` and (with `--unclean`)
//! `unclean.leader.election.enable`, sent to the nodes in turn until one answers
//! that it is created (or exists: a retry after a lost answer), as `kafka-topics.sh --create`
//! through any bootstrap server does.

use std::time::Duration;

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::{CreateTopicsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::routing::Router;
use super::ClientContext;
use crate::config::SimConfig;
use crate::hosts::broker::TOPIC;

const CREATE_TOPICS_VERSION: i16 = 5;

/// Creates the topic, retrying until a node says it exists.
pub async fn create_topic(ctx: ClientContext, config: SimConfig) -> turmoil::Result {
    let mut router = Router::new(ctx.clone(), "admin".to_owned());
    let setting = |name: &'static str, value: String| {
        CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str(name))
            .with_value(Some(StrBytes::from_string(value)))
    };
    let mut configs = vec![setting("min.insync.replicas", config.min_insync_replicas.to_string())];
    if config.unclean_leader_election {
        configs.push(setting("unclean.leader.election.enable", "true".to_owned()));
    }
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
        .with_num_partitions(config.partitions)
        .with_replication_factor(config.replication_factor as i16)
        .with_configs(configs);
    let request = CreateTopicsRequest::default().with_topics(vec![topic]).with_timeout_ms(5_000);
    loop {
        let answer = router.any().send(&request, CREATE_TOPICS_VERSION, true).await;
        let code = match answer {
            Ok(Some(response)) => response.topics.first().map_or(-1, |t| t.error_code),
            _ => -1,
        };
        if code == 0 || code == ResponseError::TopicAlreadyExists.code() {
            return Ok(());
        }
        // No controller yet, not enough brokers registered, or no answer: try the next node.
        router.rotate();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
