//! Broker sessions and BrokerHeartbeat, after Kafka's `BrokerHeartbeatManager` and
//! `ReplicationControlManager.processBrokerHeartbeat`.
//!
//! Sessions live in the controller's memory, not in the metadata log (heartbeats would flood
//! it), on the runtime's monotonic clock (`crate::runtime`, simulated time under turmoil).
//! Whether a broker is fenced is the image's; a session adds when it was last heard from,
//! the metadata offset it reported, and where its controlled shutdown completes.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::BrokerHeartbeatRequest;

use super::cluster_control::check_broker_epoch;
use super::replication::{
    handle_broker_fenced, handle_broker_in_controlled_shutdown, handle_broker_unfenced,
    has_leaderships,
};
use super::ControllerResult;
use crate::config::BrokerConfig;
use crate::error::ApiError;
use crate::metadata::MetadataImage;
use crate::runtime::Instant;

/// One broker's session (Kafka's `BrokerHeartbeatState`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Session {
    last_contact: Instant,
    /// The last metadata offset the broker reported; -1 before its first heartbeat.
    metadata_offset: i64,
    /// Where its controlled shutdown completes, while it is in one.
    controlled_shutdown_offset: Option<i64>,
}

/// A broker's state as the heartbeat state machine sees it (Kafka's `BrokerControlState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerControlState {
    /// Fenced: no leaderships, in no ISR.
    Fenced,
    /// Unfenced.
    Unfenced,
    /// Moving its leaderships away before shutting down.
    ControlledShutdown,
    /// May shut down now (fenced).
    ShutdownNow,
}

impl BrokerControlState {
    fn fenced(self) -> bool {
        matches!(self, Self::Fenced | Self::ShutdownNow)
    }
}

/// The answer to a heartbeat (Kafka's `BrokerHeartbeatReply`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatReply {
    /// The broker has replayed the metadata log up to its registration.
    pub is_caught_up: bool,
    /// It is fenced.
    pub is_fenced: bool,
    /// It is in controlled shutdown.
    pub in_controlled_shutdown: bool,
    /// It may shut down now.
    pub should_shut_down: bool,
}

/// The controller's broker sessions (Kafka's `BrokerHeartbeatManager`), and the offset of each
/// broker's RegisterBrokerRecord, which a fenced broker must reach to be unfenced.
#[derive(Debug, Clone)]
pub struct BrokerHeartbeatManager {
    session_timeout: Duration,
    sessions: BTreeMap<i32, Session>,
    register_record_offsets: BTreeMap<i32, i64>,
}

impl BrokerHeartbeatManager {
    /// Sessions expiring after `broker.session.timeout.ms`.
    pub fn new(config: &BrokerConfig) -> Self {
        Self {
            session_timeout: Duration::from_millis(config.broker_session_timeout_ms.max(1) as u64),
            sessions: BTreeMap::new(),
            register_record_offsets: BTreeMap::new(),
        }
    }

    /// The controller becoming active (Kafka's `ClusterControlManager.activate`): every
    /// registered broker gets a session from `now`, so an unfenced broker that never heartbeats
    /// again is fenced one session timeout later — except `except`, this node's own broker,
    /// whose previous incarnation was this node's previous process and is gone.
    pub fn activate(&mut self, image: &MetadataImage, except: i32, now: Instant) {
        for (id, broker) in image.brokers().iter().filter(|(id, _)| **id != except) {
            self.touch(*id, broker.fenced, -1, now);
            // Not replayed from the log: a registration's offset is at least its epoch, which
            // is its offset when it was a new incarnation.
            self.register_record_offsets.insert(*id, broker.registration.broker_epoch);
        }
    }

    /// Forgets a broker's session (a new incarnation replaces it).
    pub fn remove(&mut self, broker_id: i32) {
        self.sessions.remove(&broker_id);
    }

    /// A (re-)registration whose record is at `register_record_offset`: the session starts now.
    pub fn register(&mut self, broker_id: i32, register_record_offset: i64, now: Instant) {
        self.register_record_offsets.insert(broker_id, register_record_offset);
        let metadata_offset = self.sessions.get(&broker_id).map_or(-1, |s| s.metadata_offset);
        let session = self.sessions.entry(broker_id).or_insert(Session {
            last_contact: now,
            metadata_offset,
            controlled_shutdown_offset: None,
        });
        session.last_contact = now;
    }

    fn touch(&mut self, broker_id: i32, fenced: bool, metadata_offset: i64, now: Instant) {
        let session = self.sessions.entry(broker_id).or_insert(Session {
            last_contact: now,
            metadata_offset,
            controlled_shutdown_offset: None,
        });
        session.last_contact = now;
        session.metadata_offset = metadata_offset;
        if fenced {
            // A fenced broker leaves controlled shutdown; its next heartbeat shuts it down.
            session.controlled_shutdown_offset = None;
        }
    }

    /// Whether `broker_id` is unfenced and heard from within the session timeout.
    pub fn has_valid_session(&self, image: &MetadataImage, broker_id: i32, now: Instant) -> bool {
        let unfenced = image.brokers().get(&broker_id).is_some_and(|b| !b.fenced);
        unfenced
            && self
                .sessions
                .get(&broker_id)
                .is_some_and(|s| s.last_contact + self.session_timeout >= now)
    }

    /// The unfenced broker heard from longest ago, if its session expired (Kafka's
    /// `findOneStaleBroker`; brokers are fenced one at a time, so each fencing's effect is
    /// visible before the next).
    pub fn find_one_stale_broker(&self, image: &MetadataImage, now: Instant) -> Option<i32> {
        self.sessions
            .iter()
            .filter(|(id, _)| image.brokers().get(id).is_some_and(|b| !b.fenced))
            .min_by_key(|(id, s)| (s.last_contact, **id))
            .filter(|(id, _)| !self.has_valid_session(image, **id, now))
            .map(|(id, _)| *id)
    }

    /// The lowest metadata offset an active broker reported (`i64::MAX` with none).
    fn lowest_active_offset(&self, image: &MetadataImage) -> i64 {
        self.sessions
            .iter()
            .filter(|(id, s)| {
                s.controlled_shutdown_offset.is_none()
                    && image.brokers().get(id).is_some_and(|b| !b.fenced)
            })
            .map(|(_, s)| s.metadata_offset)
            .min()
            .unwrap_or(i64::MAX)
    }

    fn current_state(&self, image: &MetadataImage, broker_id: i32) -> BrokerControlState {
        let session = self.sessions.get(&broker_id);
        if session.is_some_and(|s| s.controlled_shutdown_offset.is_some()) {
            BrokerControlState::ControlledShutdown
        } else if image.brokers().get(&broker_id).is_none_or(|b| b.fenced) {
            BrokerControlState::Fenced
        } else {
            BrokerControlState::Unfenced
        }
    }

    /// Kafka's `calculateNextBrokerState`.
    fn next_state(
        &self,
        image: &MetadataImage,
        request: &BrokerHeartbeatRequest,
        current: BrokerControlState,
        register_record_offset: i64,
    ) -> BrokerControlState {
        use BrokerControlState::*;
        let broker_id = request.broker_id.0;
        match current {
            Fenced if request.want_shut_down => ShutdownNow,
            Fenced
                if !request.want_fence
                    && request.current_metadata_offset >= register_record_offset =>
            {
                tracing::info!(
                    broker_id,
                    register_record_offset,
                    "unfencing a broker: it caught up with its registration"
                );
                Unfenced
            }
            Fenced => Fenced,
            Unfenced if request.want_fence && request.want_shut_down => ShutdownNow,
            Unfenced if request.want_fence => Fenced,
            Unfenced if request.want_shut_down && has_leaderships(image, broker_id) => {
                ControlledShutdown
            }
            Unfenced if request.want_shut_down => ShutdownNow,
            Unfenced => Unfenced,
            ControlledShutdown if has_leaderships(image, broker_id) => ControlledShutdown,
            ControlledShutdown => {
                let done = self.sessions[&broker_id].controlled_shutdown_offset.unwrap_or(-1);
                if done <= self.lowest_active_offset(image) {
                    ShutdownNow
                } else {
                    ControlledShutdown
                }
            }
            ShutdownNow => ShutdownNow,
        }
    }

    /// BrokerHeartbeat (`processBrokerHeartbeat`): STALE_BROKER_EPOCH unless the broker is
    /// registered at the request's epoch; otherwise the records of its state change (fenced,
    /// unfenced, entering controlled shutdown) and the reply. The session is touched at `now`.
    /// `next_offset` is where the records will be committed (a controlled shutdown completes
    /// once every active broker has replayed them).
    pub fn process_broker_heartbeat(
        &mut self,
        image: &MetadataImage,
        config: &BrokerConfig,
        request: &BrokerHeartbeatRequest,
        next_offset: i64,
        now: Instant,
    ) -> Result<ControllerResult<HeartbeatReply>, ApiError> {
        let broker_id = request.broker_id.0;
        check_broker_epoch(image, broker_id, request.broker_epoch)?;
        let broker_epoch = request.broker_epoch;
        let register_record_offset =
            self.register_record_offsets.get(&broker_id).copied().unwrap_or(broker_epoch);
        if !self.sessions.contains_key(&broker_id) {
            self.touch(broker_id, image.brokers()[&broker_id].fenced, -1, now);
        }
        let current = self.current_state(image, broker_id);
        let next = self.next_state(image, request, current, register_record_offset);
        let records = if current == next {
            Vec::new()
        } else {
            match next {
                BrokerControlState::Fenced | BrokerControlState::ShutdownNow => {
                    handle_broker_fenced(image, config, broker_id)
                }
                BrokerControlState::Unfenced => {
                    handle_broker_unfenced(image, config, broker_id, broker_epoch)
                }
                BrokerControlState::ControlledShutdown => {
                    handle_broker_in_controlled_shutdown(image, config, broker_id, broker_epoch)
                }
            }
        };
        self.touch(broker_id, next.fenced(), request.current_metadata_offset, now);
        if next == BrokerControlState::ControlledShutdown {
            let session = self.sessions.get_mut(&broker_id).expect("touched");
            if session.controlled_shutdown_offset.is_none() {
                // The batch's last offset: every active broker must have replayed it.
                let end = next_offset + records.len() as i64 - 1;
                session.controlled_shutdown_offset = Some(end.max(next_offset - 1));
            }
        }
        let reply = HeartbeatReply {
            is_caught_up: request.current_metadata_offset >= register_record_offset,
            is_fenced: next.fenced(),
            in_controlled_shutdown: next == BrokerControlState::ControlledShutdown,
            should_shut_down: next == BrokerControlState::ShutdownNow,
        };
        Ok(ControllerResult { records, response: reply })
    }

    /// Fences the broker whose session expired longest ago, if any (`maybeFenceOneStaleBroker`):
    /// its id and the records.
    pub fn maybe_fence_one_stale_broker(
        &mut self,
        image: &MetadataImage,
        config: &BrokerConfig,
        now: Instant,
    ) -> Option<(i32, Vec<crate::metadata::MetadataRecord>)> {
        let broker_id = self.find_one_stale_broker(image, now)?;
        tracing::info!(broker_id, "fencing a broker because its session has timed out");
        let records = handle_broker_fenced(image, config, broker_id);
        if let Some(session) = self.sessions.get_mut(&broker_id) {
            session.controlled_shutdown_offset = None;
        }
        Some((broker_id, records))
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::error::ResponseError;
    use kafka_protocol::messages::broker_registration_request::Feature;
    use kafka_protocol::messages::{BrokerId, BrokerRegistrationRequest};
    use kafka_protocol::protocol::StrBytes;
    use uuid::Uuid;

    use super::*;
    use crate::controller::cluster_control::register_broker;
    use crate::controller::test_support::{applied, cluster};
    use crate::metadata::NO_LEADER;

    const CLUSTER_ID: &str = "MkU3OEVBNTcwNTJENDM2Qk";

    fn registration(id: i32, incarnation: u128) -> BrokerRegistrationRequest {
        BrokerRegistrationRequest::default()
            .with_broker_id(BrokerId(id))
            .with_cluster_id(StrBytes::from_static_str(CLUSTER_ID))
            .with_incarnation_id(Uuid::from_u128(incarnation))
            .with_features(vec![Feature::default()
                .with_name(StrBytes::from_static_str("metadata.version"))
                .with_min_supported_version(7)
                .with_max_supported_version(27)])
    }

    fn heartbeat(id: i32, epoch: i64, offset: i64) -> BrokerHeartbeatRequest {
        BrokerHeartbeatRequest::default()
            .with_broker_id(BrokerId(id))
            .with_broker_epoch(epoch)
            .with_current_metadata_offset(offset)
    }

    /// A new broker registers fenced at the record's offset, is unfenced once its metadata
    /// offset reaches that record, and is fenced again when its session expires — leaving the
    /// ISR of the partition it led.
    #[test]
    fn register_catch_up_unfence_and_expire() {
        let config = BrokerConfig { broker_session_timeout_ms: 1000, ..Default::default() };
        let mut image = cluster(&[]);
        let start = crate::runtime::now();
        let mut sessions = BrokerHeartbeatManager::new(&config);
        sessions.activate(&image, 1, start);
        let registered =
            register_broker(&image, CLUSTER_ID, &mut sessions, &registration(4, 40), 100, start)
                .unwrap();
        assert_eq!(registered.response, 100, "the broker epoch is the record's offset");
        image = applied(&image, &registered.records);
        assert!(image.brokers()[&4].fenced);

        let behind = sessions
            .process_broker_heartbeat(&image, &config, &heartbeat(4, 100, 99), 101, start)
            .unwrap();
        assert!(behind.records.is_empty());
        assert_eq!((behind.response.is_caught_up, behind.response.is_fenced), (false, true));
        let caught_up = sessions
            .process_broker_heartbeat(&image, &config, &heartbeat(4, 100, 100), 101, start)
            .unwrap();
        assert_eq!((caught_up.response.is_caught_up, caught_up.response.is_fenced), (true, false));
        image = applied(&image, &caught_up.records);
        assert!(!image.brokers()[&4].fenced);

        let err = sessions
            .process_broker_heartbeat(&image, &config, &heartbeat(4, 99, 100), 101, start)
            .unwrap_err();
        assert_eq!(err.error, ResponseError::StaleBrokerEpoch);

        // Another incarnation while the session lives: refused; a retry of the same: same epoch.
        let err =
            register_broker(&image, CLUSTER_ID, &mut sessions, &registration(4, 41), 200, start)
                .unwrap_err();
        assert_eq!(err.error, ResponseError::DuplicateBrokerRegistration);
        let retry =
            register_broker(&image, CLUSTER_ID, &mut sessions, &registration(4, 40), 200, start)
                .unwrap();
        assert_eq!(retry.response, 100);
        let err = register_broker(&image, "other", &mut sessions, &registration(5, 1), 200, start)
            .unwrap_err();
        assert_eq!(err.error, ResponseError::InconsistentClusterId);
        let mut too_new = registration(5, 1);
        too_new.features[0].min_supported_version = 8;
        let err =
            register_broker(&image, CLUSTER_ID, &mut sessions, &too_new, 200, start).unwrap_err();
        assert_eq!(err.error, ResponseError::UnsupportedVersion);

        // Brokers 2 and 3 got sessions on activation; 4 heartbeats later, 2 and 3 go stale.
        let later = start + Duration::from_millis(1500);
        sessions
            .process_broker_heartbeat(&image, &config, &heartbeat(4, 100, 100), 101, later)
            .unwrap();
        let mut fenced = Vec::new();
        while let Some((id, records)) =
            sessions.maybe_fence_one_stale_broker(&image, &config, later)
        {
            image = applied(&image, &records);
            fenced.push(id);
        }
        assert_eq!(fenced, [2, 3], "broker 1 (this node, not activated) and 4 (alive) stay");
        assert!(!sessions.has_valid_session(&image, 2, later));
        // A new incarnation of 2 may register now.
        let again =
            register_broker(&image, CLUSTER_ID, &mut sessions, &registration(2, 22), 300, later);
        assert_eq!(again.unwrap().response, 300);
    }

    /// want_shut_down: a leader enters controlled shutdown, its leadership moves, and it may
    /// shut down once it leads nothing and the active brokers have replayed that.
    #[test]
    fn controlled_shutdown_completes_once_leaderships_moved() {
        let config = BrokerConfig::default();
        let mut image = cluster(&[&[2, 3]]);
        let now = crate::runtime::now();
        let mut sessions = BrokerHeartbeatManager::new(&config);
        sessions.activate(&image, 0, now);
        for (id, epoch) in [(1, 10), (3, 30)] {
            let alive = heartbeat(id, epoch, 50);
            sessions.process_broker_heartbeat(&image, &config, &alive, 50, now).unwrap();
        }
        let stop = heartbeat(2, 20, 50).with_want_shut_down(true);
        let entering = sessions.process_broker_heartbeat(&image, &config, &stop, 50, now).unwrap();
        assert!(entering.response.in_controlled_shutdown && !entering.response.should_shut_down);
        image = applied(&image, &entering.records);
        let p = &image.topic("t").unwrap().partitions[&0];
        assert_eq!((p.leader, p.isr.clone()), (3, vec![3]));
        assert!(image.brokers()[&2].in_controlled_shutdown);
        // Brokers 1 and 3 have not replayed the change yet (offset 50 < the batch's end 51).
        let waiting = sessions.process_broker_heartbeat(&image, &config, &stop, 52, now).unwrap();
        assert!(!waiting.response.should_shut_down);
        for (id, epoch) in [(1, 10), (3, 30)] {
            let replayed = heartbeat(id, epoch, 51);
            sessions.process_broker_heartbeat(&image, &config, &replayed, 52, now).unwrap();
        }
        let done = sessions.process_broker_heartbeat(&image, &config, &stop, 52, now).unwrap();
        assert!(done.response.should_shut_down && done.response.is_fenced);
        image = applied(&image, &done.records);
        assert!(image.brokers()[&2].fenced);
        assert_ne!(image.topic("t").unwrap().partitions[&0].leader, NO_LEADER);
    }
}
