//! Maps a group id to its `__consumer_offsets` partition exactly as Kafka does, so that a
//! client's FindCoordinator answer and tools reading the topic agree with Apache Kafka.

/// Java's `String.hashCode`: `31 * h + c` over UTF-16 code units with wrapping `int` math.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// `Utils.abs(hashCode) % num_partitions`; Kafka's `Utils.abs` masks the sign bit rather than
/// negating, so `i32::MIN` maps to 0 instead of overflowing.
pub fn partition_for(group_id: &str, num_partitions: i32) -> i32 {
    (java_string_hash(group_id) & 0x7fff_ffff) % num_partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_java_hash_code() {
        // Values computed with Java's "...".hashCode().
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash("my-group"), -1_906_497_762);
    }

    #[test]
    fn partition_is_masked_modulo() {
        assert_eq!(partition_for("hello", 50), 99_162_322 % 50);
        // Negative hash: masked, not negated (abs would give 12, not 36).
        assert_eq!(partition_for("my-group", 50), 36);
        for g in ["a", "b", "group-1", "ünïcödé"] {
            let p = partition_for(g, 50);
            assert!((0..50).contains(&p));
        }
    }
}
