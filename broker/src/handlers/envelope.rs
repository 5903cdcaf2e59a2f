//! Envelope (key 58): a request a broker forwarded to the controller (`forwarding`), handled
//! here as if its client had sent it — authorized as the envelope's principal from the
//! envelope's client address — and answered inside an EnvelopeResponse. Only the controller
//! answers; the forwarding broker needs ClusterAction on the Cluster, as in Kafka.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{EnvelopeRequest, EnvelopeResponse, ResponseHeader};
use kafka_protocol::protocol::Encodable;

use super::RequestContext;
use crate::authorizer::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::broker::Broker;
use crate::forwarding::{deserialize_principal, is_forwardable};
use crate::security::Session;
use crate::server::FrameError;
use crate::server::{decode_request, DecodedFrame};

/// Boxed: it runs a handler, and `handlers::handle` runs it.
pub fn handle<'a>(
    broker: &'a Arc<Broker>,
    ctx: &'a RequestContext,
    request: EnvelopeRequest,
) -> Pin<Box<dyn Future<Output = EnvelopeResponse> + Send + 'a>> {
    Box::pin(async move {
        match unwrap_and_handle(broker, ctx, request).await {
            Ok(data) => EnvelopeResponse::default().with_response_data(Some(data)),
            Err((error, why)) => {
                tracing::warn!(broker = ctx.client_host, "envelope refused: {why}");
                EnvelopeResponse::default().with_error_code(error.code())
            }
        }
    })
}

async fn unwrap_and_handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: EnvelopeRequest,
) -> Result<Bytes, (ResponseError, String)> {
    if !broker.is_active_controller() {
        return Err((
            ResponseError::NotController,
            "this node is not the active controller".into(),
        ));
    }
    if !broker.authorize(ctx, AclOperation::ClusterAction, ResourceType::Cluster, CLUSTER_NAME) {
        let why =
            format!("{} may not forward requests (ClusterAction on the Cluster)", ctx.principal);
        return Err((ResponseError::ClusterAuthorizationFailed, why));
    }
    let invalid = |why: String| (ResponseError::InvalidRequest, why);
    let principal = request
        .request_principal
        .ok_or_else(|| invalid("no principal".into()))
        .and_then(|p| deserialize_principal(p).map_err(|e| invalid(format!("principal: {e}"))))?;
    let address = request.client_host_address.as_ref();
    let ip: IpAddr = match address.len() {
        4 => <[u8; 4]>::try_from(address).map(IpAddr::from).expect("length checked"),
        16 => <[u8; 16]>::try_from(address).map(IpAddr::from).expect("length checked"),
        n => return Err(invalid(format!("a client address of {n} bytes"))),
    };
    let client_host = format!("{ip}:0");
    let mut session = Session::new(
        client_host.clone(),
        &ctx.listener,
        crate::config::SecurityProtocol::Plaintext,
    );
    session.principal = principal.clone();
    let (api_key, header, inner) = match decode_request(request.request_data, &session) {
        Ok(DecodedFrame::Request { api_key, header, request }) => (api_key, header, request),
        Ok(DecodedFrame::UnsupportedApiVersions { .. }) => {
            return Err(invalid("an ApiVersions request cannot be forwarded".into()))
        }
        Err(e) => return Err(invalid(format!("the forwarded request: {e}"))),
    };
    if !is_forwardable(api_key) {
        return Err(invalid(format!("{api_key:?} is not forwarded to the controller")));
    }
    let inner_ctx = RequestContext {
        api_key,
        api_version: header.request_api_version,
        correlation_id: header.correlation_id,
        client_id: header.client_id.as_ref().map(|s| s.to_string()).unwrap_or_default(),
        client_host,
        listener: ctx.listener.clone(),
        principal,
    };
    let response = super::handle(broker, &inner_ctx, &mut session, inner)
        .await
        .map_err(|e| match e {
            // The forwarding broker answers NOT_CONTROLLER in the API's shape; its client
            // retries, with the next leader.
            FrameError::NotCommitted(why) => (ResponseError::NotController, why),
            e => invalid(format!("the forwarded request: {e}")),
        })?
        .ok_or_else(|| invalid("the forwarded request has no response".into()))?;
    let mut data = BytesMut::new();
    let version = inner_ctx.api_version;
    ResponseHeader::default()
        .with_correlation_id(inner_ctx.correlation_id)
        .encode(&mut data, api_key.response_header_version(version))
        .and_then(|()| response.encode(&mut data, version))
        .map_err(|e| (ResponseError::UnknownServerError, format!("encoding the response: {e}")))?;
    Ok(data.freeze())
}
