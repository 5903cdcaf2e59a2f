//! Decodes a consumer-group member's assignment (Kafka's ConsumerProtocolAssignment, as
//! DescribeGroups returns it for protocol type "consumer"): version, then topics with partitions.

/// The (topic, partition) pairs of an assignment; empty for bytes that do not decode (other
/// protocol types, e.g. Kafka Connect's, put other things there).
pub fn decode(bytes: &[u8]) -> Vec<(String, i32)> {
    decode_inner(bytes).unwrap_or_default()
}

fn decode_inner(mut b: &[u8]) -> Option<Vec<(String, i32)>> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if b.len() < n {
            return None;
        }
        let (head, tail) = b.split_at(n);
        *b = tail;
        Some(head)
    }
    let i16_ = |b: &mut &[u8]| take(b, 2).map(|x| i16::from_be_bytes([x[0], x[1]]));
    let i32_ = |b: &mut &[u8]| take(b, 4).map(|x| i32::from_be_bytes([x[0], x[1], x[2], x[3]]));
    let _version = i16_(&mut b)?;
    let topics = i32_(&mut b)?;
    let mut out = Vec::new();
    for _ in 0..topics.max(0) {
        let len = i16_(&mut b)?;
        let topic = std::str::from_utf8(take(&mut b, len.max(0) as usize)?).ok()?.to_string();
        let partitions = i32_(&mut b)?;
        if partitions as usize > b.len() / 4 {
            return None;
        }
        for _ in 0..partitions.max(0) {
            out.push((topic.clone(), i32_(&mut b)?));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_topics_and_partitions() {
        let mut b = vec![0, 1, 0, 0, 0, 1, 0, 3];
        b.extend_from_slice(b"abc");
        b.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(decode(&b), vec![("abc".into(), 4), ("abc".into(), 7)]);
    }

    #[test]
    fn garbage_is_empty_not_a_panic() {
        assert!(decode(&[0, 1, 0x7f, 0xff, 0xff, 0xff]).is_empty());
        assert!(decode(&[]).is_empty());
    }
}
