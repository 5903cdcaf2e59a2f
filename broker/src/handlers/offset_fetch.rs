//! OffsetFetch (key 9): Describe on the group (GROUP_AUTHORIZATION_FAILED otherwise) and on each
//! topic: a requested topic the principal may not Describe gets TOPIC_AUTHORIZATION_FAILED per
//! partition; with a null topic list (every committed topic) such topics are left out. The
//! group coordinator answers for the rest.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};

use super::RequestContext;
use crate::authorizer::{AclOperation, ResourceType};
use crate::broker::Broker;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    if ctx.api_version <= 7 {
        single_group(broker, ctx, request)
    } else {
        batched(broker, ctx, request)
    }
}

fn may_describe_group(broker: &Broker, ctx: &RequestContext, group: &str) -> bool {
    broker.authorize(ctx, AclOperation::Describe, ResourceType::Group, group)
}

fn may_describe_topic(broker: &Broker, ctx: &RequestContext, topic: &str, quietly: bool) -> bool {
    let (op, rt) = (AclOperation::Describe, ResourceType::Topic);
    if quietly {
        broker.authorize_silently(ctx, op, rt, topic)
    } else {
        broker.authorize(ctx, op, rt, topic)
    }
}

fn denied_partition(index: i32, error: ResponseError) -> OffsetFetchResponsePartition {
    OffsetFetchResponsePartition::default()
        .with_partition_index(index)
        .with_committed_offset(-1)
        .with_committed_leader_epoch(-1)
        .with_metadata(Some(Default::default()))
        .with_error_code(error.code())
}

/// v1-7: one group, errors at the top level (per partition in v1, which has none).
fn single_group(
    broker: &Broker,
    ctx: &RequestContext,
    mut request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let version = ctx.api_version;
    let denied_topics = |topics: Vec<(TopicName, Vec<i32>)>, error: ResponseError| {
        topics
            .into_iter()
            .map(|(name, partitions)| {
                OffsetFetchResponseTopic::default().with_name(name).with_partitions(
                    partitions.into_iter().map(|p| denied_partition(p, error)).collect(),
                )
            })
            .collect::<Vec<_>>()
    };
    let requested =
        |topics: &[kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic]| {
            topics.iter().map(|t| (t.name.clone(), t.partition_indexes.clone())).collect::<Vec<_>>()
        };
    if !may_describe_group(broker, ctx, request.group_id.0.as_str()) {
        let error = ResponseError::GroupAuthorizationFailed;
        if version >= 2 {
            return OffsetFetchResponse::default().with_error_code(error.code());
        }
        let topics = request.topics.as_deref().map(requested).unwrap_or_default();
        return OffsetFetchResponse::default().with_topics(denied_topics(topics, error));
    }
    let Some(topics) = request.topics.take() else {
        let mut response = broker.groups.offset_fetch(request, version, &*broker.metadata());
        response.topics.retain(|t| may_describe_topic(broker, ctx, &t.name.0, true));
        return response;
    };
    let (allowed, denied): (Vec<_>, Vec<_>) =
        topics.into_iter().partition(|t| may_describe_topic(broker, ctx, &t.name.0, false));
    request.topics = Some(allowed);
    let mut response = broker.groups.offset_fetch(request, version, &*broker.metadata());
    response
        .topics
        .extend(denied_topics(requested(&denied), ResponseError::TopicAuthorizationFailed));
    response
}

/// v8+: several groups, each with its own error.
fn batched(
    broker: &Broker,
    ctx: &RequestContext,
    mut request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let version = ctx.api_version;
    let groups = std::mem::take(&mut request.groups);
    // Per group: None when the group is denied, else the topics denied to it.
    let mut plan = Vec::new();
    for mut group in groups {
        if !may_describe_group(broker, ctx, group.group_id.0.as_str()) {
            plan.push((group.group_id, None));
            continue;
        }
        let mut denied = Vec::new();
        if let Some(topics) = group.topics.take() {
            let (allowed, rejected): (Vec<_>, Vec<_>) =
                topics.into_iter().partition(|t| may_describe_topic(broker, ctx, &t.name.0, false));
            group.topics = Some(allowed);
            denied = rejected;
        }
        plan.push((group.group_id.clone(), Some(denied)));
        request.groups.push(group);
    }
    let listed_all: Vec<bool> = request.groups.iter().map(|g| g.topics.is_none()).collect();
    let mut answered =
        broker.groups.offset_fetch(request, version, &*broker.metadata()).groups.into_iter();
    let mut listed_all = listed_all.into_iter();
    let groups = plan
        .into_iter()
        .map(|(group_id, denied)| {
            let Some(denied) = denied else {
                return OffsetFetchResponseGroup::default()
                    .with_group_id(group_id)
                    .with_error_code(ResponseError::GroupAuthorizationFailed.code());
            };
            let mut group = answered.next().expect("one answer per allowed group");
            if listed_all.next().expect("one flag per allowed group") {
                group.topics.retain(|t| may_describe_topic(broker, ctx, &t.name.0, true));
            }
            group.topics.extend(denied.into_iter().map(|t| {
                OffsetFetchResponseTopics::default().with_name(t.name).with_partitions(
                    t.partition_indexes
                        .into_iter()
                        .map(|p| {
                            OffsetFetchResponsePartitions::default()
                                .with_partition_index(p)
                                .with_committed_offset(-1)
                                .with_committed_leader_epoch(-1)
                                .with_metadata(Some(Default::default()))
                                .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                        })
                        .collect(),
                )
            }));
            group
        })
        .collect();
    OffsetFetchResponse::default().with_groups(groups)
}
