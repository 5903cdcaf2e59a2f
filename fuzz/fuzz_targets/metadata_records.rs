//! See `kafka_lab_broker::fuzzing::metadata_records` for the input format and the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kafka_lab_broker::fuzzing::metadata_records(data));
