//! The client side of Kafka's frame format, sans-io: the request a client writes and the
//! response it reads, for the simulator's clients, the admin client and the tests. The server
//! side is `server.rs`. The 4-byte length prefix is the caller's, who owns the stream.

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

/// Why a request could not be encoded or its response not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientFrameError {
    #[error("encoding the request: {0}")]
    Encode(String),
    #[error("decoding the response: {0}")]
    Decode(String),
    #[error("correlation id {got} for request {expected}")]
    CorrelationMismatch { expected: i32, got: i32 },
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
}

/// The request header and `request` at `version`: a frame's body, without its length prefix.
pub fn encode_request<R: Request>(
    request: &R,
    version: i16,
    correlation_id: i32,
    client_id: &str,
) -> Result<BytesMut, ClientFrameError> {
    let encode = |e: anyhow::Error| ClientFrameError::Encode(e.to_string());
    let mut body = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_string(client_id.to_owned())))
        .encode(&mut body, R::header_version(version))
        .map_err(encode)?;
    request.encode(&mut body, version).map_err(encode)?;
    Ok(body)
}

/// The response to the request sent with `correlation_id` at `version`, from a frame's body
/// (without its length prefix): the header must answer that request and nothing may follow.
pub fn decode_response<R: Request>(
    mut frame: Bytes,
    version: i16,
    correlation_id: i32,
) -> Result<R::Response, ClientFrameError> {
    let decode = |e: anyhow::Error| ClientFrameError::Decode(e.to_string());
    let header =
        ResponseHeader::decode(&mut frame, R::Response::header_version(version)).map_err(decode)?;
    if header.correlation_id != correlation_id {
        return Err(ClientFrameError::CorrelationMismatch {
            expected: correlation_id,
            got: header.correlation_id,
        });
    }
    let response = R::Response::decode(&mut frame, version).map_err(decode)?;
    if frame.has_remaining() {
        return Err(ClientFrameError::TrailingBytes(frame.remaining()));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, ResponseHeader};
    use kafka_protocol::protocol::Encodable;

    use super::*;

    fn response_frame(correlation_id: i32, trailing: &[u8]) -> Bytes {
        let mut frame = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(correlation_id)
            .encode(&mut frame, 0)
            .unwrap();
        ApiVersionsResponse::default().with_error_code(35).encode(&mut frame, 3).unwrap();
        frame.extend_from_slice(trailing);
        frame.freeze()
    }

    #[test]
    fn a_response_must_answer_its_request_and_end_there() {
        let ok = decode_response::<ApiVersionsRequest>(response_frame(9, &[]), 3, 9).unwrap();
        assert_eq!(ok.error_code, 35);
        assert_eq!(
            decode_response::<ApiVersionsRequest>(response_frame(8, &[]), 3, 9).unwrap_err(),
            ClientFrameError::CorrelationMismatch { expected: 9, got: 8 }
        );
        assert_eq!(
            decode_response::<ApiVersionsRequest>(response_frame(9, &[1, 2]), 3, 9).unwrap_err(),
            ClientFrameError::TrailingBytes(2)
        );
    }

    #[test]
    fn a_request_starts_with_its_header() {
        let body = encode_request(&ApiVersionsRequest::default(), 3, 42, "me").unwrap();
        // api key 18, version 3, correlation id 42, client id "me" (header v2).
        assert_eq!(&body[..8], &[0, 18, 0, 3, 0, 0, 0, 42]);
        assert_eq!(&body[8..12], &[0, 2, b'm', b'e']);
    }
}
