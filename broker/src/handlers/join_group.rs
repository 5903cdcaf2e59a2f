//! JoinGroup (key 11): Read on the group, then the group coordinator.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::RequestContext;
use crate::authorizer::{AclOperation, ResourceType};
use crate::broker::Broker;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: JoinGroupRequest,
) -> JoinGroupResponse {
    if !broker.authorize(ctx, AclOperation::Read, ResourceType::Group, request.group_id.0.as_str())
    {
        return crate::group::join_error(
            ctx.api_version,
            ResponseError::GroupAuthorizationFailed,
            "",
        );
    }
    let client_host = kafka_client_host(&ctx.client_host);
    broker.groups.join_group(request, ctx.api_version, &ctx.client_id, &client_host).await
}

/// The member's host as Kafka records it (`clientHost` in the GroupMetadata value, DescribeGroups'
/// `client_host`): Java's `InetAddress.toString()` of the peer, a slash and the IP without port
/// (`/127.0.0.1`; IPv6 in Java's uncompressed form, `/0:0:0:0:0:0:0:1`).
fn kafka_client_host(peer: &str) -> String {
    match peer.parse::<std::net::SocketAddr>().map(|a| a.ip()) {
        Ok(std::net::IpAddr::V4(ip)) => format!("/{ip}"),
        Ok(std::net::IpAddr::V6(ip)) => {
            let groups: Vec<String> = ip.segments().iter().map(|s| format!("{s:x}")).collect();
            format!("/{}", groups.join(":"))
        }
        // Not a socket address (an in-memory transport): keep what the transport says.
        Err(_) => peer.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::kafka_client_host;

    #[test]
    fn client_host_is_written_as_kafka_writes_it() {
        assert_eq!(kafka_client_host("127.0.0.1:53412"), "/127.0.0.1");
        assert_eq!(kafka_client_host("[::1]:9092"), "/0:0:0:0:0:0:0:1");
        assert_eq!(kafka_client_host("[fe80::1:ab]:1"), "/fe80:0:0:0:0:0:1:ab");
        assert_eq!(kafka_client_host("sim-client"), "sim-client");
    }
}
