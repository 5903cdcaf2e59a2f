//! Broker registration and broker epochs, after Kafka's `ClusterControlManager`.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::BrokerRegistrationRequest;

use super::heartbeats::BrokerHeartbeatManager;
use super::ControllerResult;
use crate::error::ApiError;
use crate::metadata::{
    BrokerEndpoint, BrokerFeature, MetadataImage, MetadataRecord, RegisterBrokerRecord,
};
use crate::runtime::Instant;

/// The `metadata.version` feature's name.
pub const METADATA_VERSION_FEATURE: &str = "metadata.version";

/// The `metadata.version` of a cluster whose metadata log finalizes none (this broker writes no
/// FeatureLevelRecord): Kafka 4.x's lowest, 3.3-IV3 (7), whose record versions — a
/// BrokerRegistrationChangeRecord for fencing, no directory assignment — are the ones written
/// here.
pub const DEFAULT_METADATA_VERSION: i16 = 7;

/// What a broker that sends no `metadata.version` range is assumed to support (Kafka's
/// `MINIMUM_KRAFT_VERSION`, 3.0-IV1).
const MINIMUM_KRAFT_VERSION: i16 = 1;

/// STALE_BROKER_EPOCH unless `broker_id` is registered at `broker_epoch` (Kafka's
/// `checkBrokerEpoch`).
pub fn check_broker_epoch(
    image: &MetadataImage,
    broker_id: i32,
    broker_epoch: i64,
) -> Result<(), ApiError> {
    let stale = |message: String| Err(ApiError::new(ResponseError::StaleBrokerEpoch, message));
    match image.brokers().get(&broker_id) {
        None => stale(format!("No broker registration found for broker id {broker_id}")),
        Some(b) if b.registration.broker_epoch != broker_epoch => stale(format!(
            "Expected broker epoch {}, but got broker epoch {broker_epoch}",
            b.registration.broker_epoch
        )),
        Some(_) => Ok(()),
    }
}

/// The finalized level of `feature`: the image's, else this cluster's default.
fn finalized_level(image: &MetadataImage, feature: &str) -> i16 {
    match image.features().get(feature) {
        Some(level) => *level,
        None if feature == METADATA_VERSION_FEATURE => DEFAULT_METADATA_VERSION,
        None => 0,
    }
}

/// UNSUPPORTED_VERSION unless `min..=max` includes the finalized level of `name`.
fn check_feature(image: &MetadataImage, name: &str, min: i16, max: i16) -> Result<(), ApiError> {
    let finalized = finalized_level(image, name);
    if (min..=max).contains(&finalized) {
        return Ok(());
    }
    Err(ApiError::new(
        ResponseError::UnsupportedVersion,
        format!(
            "Unable to register because the broker does not support finalized version \
             {finalized} of {name}. The broker wants a version between {min} and {max}, \
             inclusive."
        ),
    ))
}

/// BrokerRegistration, as Kafka's `ClusterControlManager.registerBroker`: INCONSISTENT_CLUSTER_ID
/// for another cluster; DUPLICATE_BROKER_REGISTRATION while the id's registration has a live
/// session under another incarnation; UNSUPPORTED_VERSION unless every finalized feature is in
/// the broker's ranges. A new incarnation is registered fenced at `new_broker_epoch` (the
/// record's offset); the same incarnation again (a retry) amends the registration, keeping its
/// epoch and fencing. The response is the broker epoch. `heartbeats` gets the broker's session
/// (the caller keeps the change only if the records commit).
pub fn register_broker(
    image: &MetadataImage,
    cluster_id: &str,
    heartbeats: &mut BrokerHeartbeatManager,
    request: &BrokerRegistrationRequest,
    new_broker_epoch: i64,
    now: Instant,
) -> Result<ControllerResult<i64>, ApiError> {
    if request.cluster_id.as_str() != cluster_id {
        return Err(ApiError::new(
            ResponseError::InconsistentClusterId,
            format!("Expected cluster ID {cluster_id}, but got cluster ID {}", request.cluster_id),
        ));
    }
    let broker_id = request.broker_id.0;
    let existing = image.brokers().get(&broker_id);
    let same_incarnation =
        existing.is_some_and(|b| b.registration.incarnation_id == request.incarnation_id);
    if existing.is_some()
        && !same_incarnation
        && heartbeats.has_valid_session(image, broker_id, now)
    {
        return Err(ApiError::new(
            ResponseError::DuplicateBrokerRegistration,
            "Another broker is registered with that broker id.",
        ));
    }
    if request.is_migrating_zk_broker {
        return Err(ApiError::new(
            ResponseError::BrokerIdNotRegistered,
            "Controller does not support registering ZK brokers.",
        ));
    }
    let mut features = Vec::new();
    for feature in &request.features {
        let (min, max) = (feature.min_supported_version, feature.max_supported_version);
        check_feature(image, feature.name.as_str(), min, max)?;
        features.push(BrokerFeature {
            name: feature.name.to_string(),
            min_supported_version: min,
            max_supported_version: max,
        });
    }
    if !features.iter().any(|f| f.name == METADATA_VERSION_FEATURE) {
        let (min, max) = (MINIMUM_KRAFT_VERSION, MINIMUM_KRAFT_VERSION);
        check_feature(image, METADATA_VERSION_FEATURE, min, max)?;
        features.push(BrokerFeature {
            name: METADATA_VERSION_FEATURE.to_owned(),
            min_supported_version: min,
            max_supported_version: max,
        });
    }
    for (name, _) in image.features().iter().filter(|(_, level)| **level != 0) {
        if !request.features.iter().any(|f| f.name.as_str() == name) {
            check_feature(image, name, 0, 0)?;
        }
    }
    let endpoints = request
        .listeners
        .iter()
        .map(|l| BrokerEndpoint {
            name: l.name.to_string(),
            host: l.host.to_string(),
            port: l.port,
            security_protocol: l.security_protocol,
        })
        .collect();
    let (broker_epoch, fenced, in_controlled_shutdown) = match existing {
        Some(b) if same_incarnation => {
            tracing::info!(
                broker_id,
                incarnation_id = %request.incarnation_id,
                broker_epoch = b.registration.broker_epoch,
                "amending the registration of a broker; its epoch remains"
            );
            (b.registration.broker_epoch, b.fenced, b.in_controlled_shutdown)
        }
        _ => {
            tracing::info!(
                broker_id,
                incarnation_id = %request.incarnation_id,
                previous_incarnation_id = ?existing.map(|b| b.registration.incarnation_id),
                broker_epoch = new_broker_epoch,
                "registering a new incarnation of a broker"
            );
            heartbeats.remove(broker_id);
            (new_broker_epoch, true, false)
        }
    };
    let record = RegisterBrokerRecord {
        broker_id,
        incarnation_id: request.incarnation_id,
        broker_epoch,
        endpoints,
        features,
        rack: request.rack.as_ref().map(|r| r.to_string()),
        fenced,
        in_controlled_shutdown,
    };
    heartbeats.register(broker_id, new_broker_epoch, now);
    Ok(ControllerResult {
        records: vec![MetadataRecord::RegisterBroker(record)],
        response: broker_epoch,
    })
}
