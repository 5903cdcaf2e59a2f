//! Requests that change metadata, sent to a broker without the controller role, go to the
//! controller inside an Envelope (API 58) with the client's principal and address, as Kafka's
//! `ForwardingManager` does (KIP-590): the controller authorizes them as that client, handles
//! them, and the broker relays the answer. The client sees the same response as from the
//! controller itself.
//!
//! When the controller cannot be reached, the request is handled locally instead, where every
//! metadata change is refused with NOT_CONTROLLER in the API's own response shape — an error
//! clients retry after refreshing their metadata.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, DefaultPrincipalData, EnvelopeRequest, RequestHeader, RequestKind,
    ResponseHeader, ResponseKind, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::broker::Broker;
use crate::handlers::RequestContext;
use crate::network::ControllerClients;
use crate::security::Principal;

/// How long a forwarded request may take at the controller (`request.timeout.ms`'s default).
const FORWARD_DEADLINE: Duration = Duration::from_secs(30);

/// The version `DefaultPrincipalData` is serialized at (Kafka's highest, 0).
const PRINCIPAL_DATA_VERSION: i16 = 0;

/// Whether a broker-only node forwards `api_key` to the controller: the APIs this broker has
/// whose effect is a metadata change (Kafka's `ApiKeys.forwardable`).
pub fn is_forwardable(api_key: ApiKey) -> bool {
    matches!(
        api_key,
        ApiKey::CreateTopics
            | ApiKey::DeleteTopics
            | ApiKey::CreatePartitions
            | ApiKey::AlterConfigs
            | ApiKey::IncrementalAlterConfigs
            | ApiKey::CreateAcls
            | ApiKey::DeleteAcls
            | ApiKey::AlterClientQuotas
            | ApiKey::AlterUserScramCredentials
            | ApiKey::ElectLeaders
            | ApiKey::AlterPartitionReassignments
            | ApiKey::ListPartitionReassignments
            // Not a change, but the quorum's leader alone can answer it (Kafka forwards it too).
            | ApiKey::DescribeQuorum
    )
}

/// One connection to the controller for forwarded requests, used one request at a time.
#[derive(Default)]
pub struct ForwardingManager {
    client: tokio::sync::Mutex<Option<ControllerClients>>,
    /// Topics whose auto-creation was sent to the controller and is not answered yet (Kafka's
    /// `AutoTopicCreationManager.inflightTopics`): a client polling Metadata meanwhile does
    /// not send another CreateTopics.
    auto_create_in_flight: std::sync::Mutex<BTreeSet<String>>,
}

impl ForwardingManager {
    /// Sends `request` to the controller in an Envelope and returns its response; `None` when
    /// the controller could not be reached or refused the envelope (logged).
    pub async fn forward(
        &self,
        broker: &Arc<Broker>,
        ctx: &RequestContext,
        request: &RequestKind,
    ) -> Option<ResponseKind> {
        let connector = broker.outbound_connector()?;
        let envelope = match envelope_for(ctx, request) {
            Ok(envelope) => envelope,
            Err(e) => {
                tracing::error!(api = ?ctx.api_key, error = %e, "cannot wrap a request for the controller");
                return None;
            }
        };
        let mut client = self.client.lock().await;
        let clients = client.get_or_insert_with(|| {
            broker.controller_clients(&connector, "forwarding", FORWARD_DEADLINE)
        });
        let response = match clients.current(broker.quorum_leader_id()).call(&envelope).await {
            Ok((_, response)) => response,
            Err(e) => {
                tracing::warn!(api = ?ctx.api_key, error = %e, "cannot forward to the controller");
                clients.failed();
                return None;
            }
        };
        if response.error_code != 0 {
            tracing::warn!(api = ?ctx.api_key, error_code = response.error_code, "the controller refused a forwarded request");
            clients.failed();
            return None;
        }
        clients.succeeded();
        let Some(mut data) = response.response_data else {
            tracing::warn!(api = ?ctx.api_key, "the controller's envelope carried no response");
            return None;
        };
        let decoded =
            ResponseHeader::decode(&mut data, ctx.api_key.response_header_version(ctx.api_version))
                .and_then(|_| ResponseKind::decode(ctx.api_key, &mut data, ctx.api_version));
        match decoded {
            Ok(response) => Some(response),
            Err(e) => {
                tracing::error!(api = ?ctx.api_key, error = %e, "the controller's forwarded response does not decode");
                None
            }
        }
    }
}

impl ForwardingManager {
    /// Auto-creates `name` for a Metadata request on a broker-only node, as Kafka's
    /// `AutoTopicCreationManager` does: a CreateTopics with `num.partitions` and
    /// `default.replication.factor` goes to the controller in the background, in an Envelope
    /// as the client that asked (the controller authorizes it as that client), and the
    /// Metadata response says LEADER_NOT_AVAILABLE meanwhile — clients retry until the topic
    /// reaches this broker's metadata. The caller has checked the client may create it.
    pub fn auto_create_topic(&self, broker: &Arc<Broker>, ctx: &RequestContext, name: &str) {
        let mut in_flight = self.auto_create_in_flight.lock().expect("auto-create lock poisoned");
        if !in_flight.insert(name.to_owned()) {
            return;
        }
        drop(in_flight);
        let ctx = RequestContext {
            api_key: ApiKey::CreateTopics,
            api_version: AUTO_CREATE_VERSION,
            ..ctx.clone()
        };
        let topic = CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.to_owned())))
            .with_num_partitions(broker.config.num_partitions)
            .with_replication_factor(-1);
        let request = RequestKind::CreateTopics(
            CreateTopicsRequest::default()
                .with_topics(vec![topic])
                .with_timeout_ms(FORWARD_DEADLINE.as_millis() as i32),
        );
        let broker = broker.clone();
        let name = name.to_owned();
        crate::runtime::spawn(async move {
            // `None`: `forward` logged why the controller was not reached; clients ask again.
            if let Some(ResponseKind::CreateTopics(response)) =
                broker.forwarding.forward(&broker, &ctx, &request).await
            {
                for topic in &response.topics {
                    if topic.error_code == 0 {
                        tracing::info!(topic = %topic.name.0, "auto-created a topic through the controller");
                    } else if topic.error_code != ResponseError::TopicAlreadyExists.code() {
                        tracing::warn!(
                            topic = %topic.name.0,
                            error = %crate::metrics::error_name(topic.error_code),
                            message = topic.error_message.as_deref().unwrap_or(""),
                            "the controller refused to auto-create a topic"
                        );
                    }
                }
            }
            let mut in_flight =
                broker.forwarding.auto_create_in_flight.lock().expect("auto-create lock poisoned");
            in_flight.remove(&name);
        });
    }
}

/// The CreateTopics version auto-creation forwards (Kafka's broker sends its latest).
const AUTO_CREATE_VERSION: i16 = 7;

/// The Envelope for `request`: the request frame as the client sent it (header and body at
/// its version), the client's principal and its IP address.
fn envelope_for(ctx: &RequestContext, request: &RequestKind) -> anyhow::Result<EnvelopeRequest> {
    let mut frame = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(ctx.api_key as i16)
        .with_request_api_version(ctx.api_version)
        .with_correlation_id(ctx.correlation_id)
        .with_client_id(Some(StrBytes::from_string(ctx.client_id.clone())))
        .encode(&mut frame, ctx.api_key.request_header_version(ctx.api_version))?;
    request.encode(&mut frame, ctx.api_version)?;
    let address = match ctx.client_host.parse::<SocketAddr>() {
        Ok(SocketAddr::V4(a)) => Bytes::copy_from_slice(&a.ip().octets()),
        Ok(SocketAddr::V6(a)) => Bytes::copy_from_slice(&a.ip().octets()),
        Err(_) => anyhow::bail!("client address `{}` is not an IP address", ctx.client_host),
    };
    Ok(EnvelopeRequest::default()
        .with_request_data(frame.freeze())
        .with_request_principal(Some(serialize_principal(&ctx.principal)?))
        .with_client_host_address(address))
}

/// Kafka's `DefaultKafkaPrincipalBuilder.serialize`: the version, then `DefaultPrincipalData`.
pub fn serialize_principal(principal: &Principal) -> anyhow::Result<Bytes> {
    let mut out = BytesMut::new();
    out.extend_from_slice(&PRINCIPAL_DATA_VERSION.to_be_bytes());
    DefaultPrincipalData::default()
        .with_type(StrBytes::from_string(principal.kind.clone()))
        .with_name(StrBytes::from_string(principal.name.clone()))
        .with_token_authenticated(false)
        .encode(&mut out, PRINCIPAL_DATA_VERSION)?;
    Ok(out.freeze())
}

/// The inverse of [`serialize_principal`].
pub fn deserialize_principal(mut bytes: Bytes) -> anyhow::Result<Principal> {
    anyhow::ensure!(bytes.len() >= 2, "a serialized principal starts with its version");
    let version = i16::from_be_bytes([bytes[0], bytes[1]]);
    anyhow::ensure!(
        version == PRINCIPAL_DATA_VERSION,
        "principal data version {version} is unknown"
    );
    let _ = bytes.split_to(2);
    let data = DefaultPrincipalData::decode(&mut bytes, version)?;
    Ok(Principal { kind: data._type.to_string(), name: data.name.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_round_trip_in_kafkas_form() {
        let alice = Principal::user("alice");
        let bytes = serialize_principal(&alice).unwrap();
        // Version 0, then compact strings (length + 1) and the flag, then no tagged fields.
        assert_eq!(&bytes[..], b"\x00\x00\x05User\x06alice\x00\x00");
        assert_eq!(deserialize_principal(bytes).unwrap(), alice);
        assert!(deserialize_principal(Bytes::from_static(b"\x00\x07xx")).is_err());
    }
}
