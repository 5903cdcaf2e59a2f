//! Kafka's errors as its Java tools print them: the message of `Errors.java` when the broker
//! sent none, and the exception class (`Throwable.toString`).

use kafka_protocol::error::ResponseError;

use crate::client::BrokerError;

/// The errors the admin commands meet, with Kafka's message and exception class
/// (`Errors.java`): kafka-protocol carries only the names.
const KAFKA_ERRORS: [(i16, &str, &str); 27] = [
    (-1, "The server experienced an unexpected error when processing the request.", "UnknownServerException"),
    (3, "This server does not host this topic-partition.", "UnknownTopicOrPartitionException"),
    (5, "There is no leader for this topic-partition as we are in the middle of a leadership election.", "LeaderNotAvailableException"),
    (12, "The metadata field of the offset request was too large.", "OffsetMetadataTooLarge"),
    (14, "The coordinator is loading and hence can't process requests.", "CoordinatorLoadInProgressException"),
    (15, "The coordinator is not available.", "CoordinatorNotAvailableException"),
    (16, "This is not the correct coordinator.", "NotCoordinatorException"),
    (22, "Specified group generation id is not valid.", "IllegalGenerationException"),
    (24, "The configured groupId is invalid.", "InvalidGroupIdException"),
    (25, "The coordinator is not aware of this member.", "UnknownMemberIdException"),
    (27, "The group is rebalancing, so a rejoin is needed.", "RebalanceInProgressException"),
    (28, "The committing offset data size is not valid.", "InvalidCommitOffsetSizeException"),
    (29, "Topic authorization failed.", "TopicAuthorizationException"),
    (30, "Group authorization failed.", "GroupAuthorizationException"),
    (31, "Cluster authorization failed.", "ClusterAuthorizationException"),
    (41, "This is not the correct controller for this cluster.", "NotControllerException"),
    (42, "This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker. See the broker logs for more details.", "InvalidRequestException"),
    (68, "The group is not empty.", "GroupNotEmptyException"),
    (69, "The group id does not exist.", "GroupIdNotFoundException"),
    (80, "The preferred leader was not available.", "PreferredLeaderNotAvailableException"),
    (83, "Eligible topic partition leaders are not available.", "EligibleLeadersNotAvailableException"),
    (84, "Leader election not needed for topic partition.", "ElectionNotNeededException"),
    (85, "No partition reassignment is in progress.", "NoReassignmentInProgressException"),
    (86, "Deleting offsets of a topic is forbidden while the consumer group is actively subscribed to it.", "GroupSubscribedToTopicException"),
    (88, "There are unstable offsets that need to be cleared.", "UnstableOffsetCommitException"),
    (89, "The throttling quota has been exceeded.", "ThrottlingQuotaExceededException"),
    (113, "The member epoch is stale. The member must retry after receiving its updated member epoch via the ConsumerGroupHeartbeat API.", "StaleMemberEpochException"),
];

/// A broker error as Kafka's admin client raises it: the broker's message, or the error's
/// own description.
pub(crate) fn kafka_message(e: &BrokerError) -> String {
    if !e.message.is_empty() {
        return e.message.clone();
    }
    match KAFKA_ERRORS.iter().find(|(code, _, _)| *code == e.code) {
        Some((_, message, _)) => (*message).to_owned(),
        None => match ResponseError::try_from_code(e.code) {
            Some(error) => format!("{error:?}"),
            None => format!("error code {}", e.code),
        },
    }
}

/// A broker error as Java prints the exception (`Throwable.toString`):
/// `org.apache.kafka.common.errors.GroupNotEmptyException: The group is not empty.`
pub(crate) fn java_exception(e: &BrokerError) -> String {
    let class = match KAFKA_ERRORS.iter().find(|(code, _, _)| *code == e.code) {
        Some((_, _, class)) => (*class).to_owned(),
        None => match ResponseError::try_from_code(e.code) {
            Some(error) => format!("{error:?}Exception"),
            None => "KafkaException".to_owned(),
        },
    };
    format!("org.apache.kafka.common.errors.{class}: {}", kafka_message(e))
}
