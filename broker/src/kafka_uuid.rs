//! Kafka's text form of a 16-byte id (`Uuid.toString`): URL-safe base64 without padding, 22
//! characters. Cluster ids in `meta.properties` and topic ids in `partition.metadata` use it.

use uuid::Uuid;

/// The Kafka text form of `id`.
pub fn encode(id: Uuid) -> String {
    encode_bytes(id.as_bytes())
}

/// 16 bytes in Kafka's text form (a cluster id is 16 random bytes).
pub fn encode_bytes(bytes: &[u8; 16]) -> String {
    openssl::base64::encode_block(bytes)
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect()
}

/// Parses Kafka's text form, as `Uuid.fromString` does: 22 characters of the URL-safe base64
/// alphabet (padding `==` optional) that decode to 16 bytes. `None` for anything else.
pub fn decode(text: &str) -> Option<Uuid> {
    let text = text.strip_suffix("==").unwrap_or(text);
    if text.len() != 22
        || !text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    let standard: String = text
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .chain("==".chars())
        .collect();
    let bytes = openssl::base64::decode_block(&standard).ok()?;
    // Like Java's decoder, the 4 spare bits of the last character are not checked: Kafka's own
    // documented example id `MkU3OEVBNTcwNTJENDM2Qk` sets them.
    let bytes: [u8; 16] = bytes.try_into().ok()?;
    Some(Uuid::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_kafka_refuses() {
        let id = Uuid::from_bytes([0xff; 16]);
        let text = encode(id);
        assert_eq!(text, "_____________________w");
        assert_eq!(decode(&text), Some(id));
        // The cluster id of Kafka's Docker examples.
        assert!(decode("MkU3OEVBNTcwNTJENDM2Qk").is_some());
        // Java's URL decoder takes the padding too.
        assert_eq!(decode("_____________________w=="), Some(id));
        for bad in ["", "abc", "hello world", "MkU3OEVBNTcwNTJENDM2Qk=", "MkU3OEVBNTcwNTJENDM2Q+"] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
