//! The one unsafe module: librdkafka's ListConsumerGroupOffsets admin call, which rust-rdkafka
//! 0.39's safe API does not wrap.
//!
//! librdkafka 2.12 accepts one group per ListConsumerGroupOffsets call (its header says so), so
//! a poll submits one call per group, all on a single client and a single event queue with up
//! to [`MAX_IN_FLIGHT`] outstanding; librdkafka pipelines them to each group's coordinator.
//! Each call asks for all of the group's partitions (NULL partition list): one OffsetFetch per
//! group, never one per partition.

use std::collections::HashMap;
use std::ffi::{c_void, CStr, CString};
use std::ptr;
use std::time::{Duration, Instant};

use rdkafka_sys as sys;

/// Outstanding ListConsumerGroupOffsets calls at a time.
pub const MAX_IN_FLIGHT: usize = 512;

/// The request timeout librdkafka is given for each call, longer than any wait of ours: the
/// poll stops waiting at its own deadline (the Kafka timeout, the poll interval) and drops late
/// answers with its queue. librdkafka 2.12 aborts the process (`rd_kafka_enq_once_del_source_return:
/// Assertion eonce->refcnt > 0`) when an admin call to a group coordinator times out while it
/// waits for the coordinator and the coordinator then comes up: its coordinator request
/// releases the call's last reference and the failure path releases it again. That is what a
/// broker restart does to the coordinator of every group it led, so with the poll's few
/// seconds as the timeout the chaos suites saw the exporter abort in most leader kills.
const ADMIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Committed offsets of one group: (topic, partition, offset) for partitions with a commit.
pub type GroupOffsets = Vec<(String, i32, i64)>;

/// Fetches every group's committed offsets over the client `rk`. Groups without an answer
/// within `timeout` (per call), or by `until` (the poll's deadline), get an error.
///
/// # Safety
/// `rk` must be a live librdkafka client handle that outlives this call.
pub unsafe fn list_group_offsets(
    rk: *mut sys::rd_kafka_t,
    groups: &[String],
    timeout: Duration,
    until: Instant,
) -> HashMap<String, Result<GroupOffsets, String>> {
    let mut results = HashMap::with_capacity(groups.len());
    if groups.is_empty() {
        return results;
    }
    let queue = sys::rd_kafka_queue_new(rk);
    let options = sys::rd_kafka_AdminOptions_new(
        rk,
        sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS,
    );
    let mut errstr = [0 as std::ffi::c_char; 256];
    sys::rd_kafka_AdminOptions_set_request_timeout(
        options,
        timeout.max(ADMIN_REQUEST_TIMEOUT).as_millis().min(i32::MAX as u128) as i32,
        errstr.as_mut_ptr(),
        errstr.len(),
    );

    let mut next = 0;
    let mut outstanding = 0;
    let mut deadline = (Instant::now() + timeout + Duration::from_secs(1)).min(until);
    while next < groups.len() || outstanding > 0 {
        while next < groups.len() && outstanding < MAX_IN_FLIGHT {
            let Ok(name) = CString::new(groups[next].as_str()) else {
                results.insert(groups[next].clone(), Err("group name contains NUL".into()));
                next += 1;
                continue;
            };
            // The opaque carries the group's index; options are copied by the call.
            sys::rd_kafka_AdminOptions_set_opaque(options, next as *mut c_void);
            let mut request =
                sys::rd_kafka_ListConsumerGroupOffsets_new(name.as_ptr(), ptr::null());
            sys::rd_kafka_ListConsumerGroupOffsets(rk, &mut request, 1, options, queue);
            sys::rd_kafka_ListConsumerGroupOffsets_destroy(request);
            next += 1;
            outstanding += 1;
            deadline = deadline.max(Instant::now() + timeout + Duration::from_secs(1)).min(until);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let event = sys::rd_kafka_queue_poll(queue, left.as_millis().max(1) as i32);
        if event.is_null() {
            continue;
        }
        if sys::rd_kafka_event_type(event) != sys::RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT {
            sys::rd_kafka_event_destroy(event);
            continue;
        }
        outstanding -= 1;
        let index = sys::rd_kafka_event_opaque(event) as usize;
        let group = &groups[index];
        if sys::rd_kafka_event_error(event) != sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
        {
            results.insert(group.clone(), Err(cstr(sys::rd_kafka_event_error_string(event))));
        } else {
            let result = sys::rd_kafka_event_ListConsumerGroupOffsets_result(event);
            let mut count = 0;
            let group_results =
                sys::rd_kafka_ListConsumerGroupOffsets_result_groups(result, &mut count);
            for i in 0..count {
                let g = *group_results.add(i);
                let name = cstr(sys::rd_kafka_group_result_name(g));
                let error = sys::rd_kafka_group_result_error(g);
                if !error.is_null() {
                    results.insert(name, Err(cstr(sys::rd_kafka_error_string(error))));
                    continue;
                }
                results.insert(name, Ok(partitions(sys::rd_kafka_group_result_partitions(g))));
            }
        }
        sys::rd_kafka_event_destroy(event);
    }
    sys::rd_kafka_AdminOptions_destroy(options);
    // Late answers to a destroyed queue are dropped by librdkafka (the queue is refcounted).
    sys::rd_kafka_queue_destroy(queue);
    for g in groups {
        results.entry(g.clone()).or_insert_with(|| {
            Err("no answer within the Kafka timeout or the poll interval".into())
        });
    }
    results
}

/// (topic, partition, offset) of every element with a committed offset and no error.
unsafe fn partitions(list: *const sys::rd_kafka_topic_partition_list_t) -> GroupOffsets {
    if list.is_null() {
        return Vec::new();
    }
    let list = &*list;
    let mut out = Vec::with_capacity(list.cnt as usize);
    for i in 0..list.cnt as usize {
        let e = &*list.elems.add(i);
        if e.err == sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && e.offset >= 0 {
            out.push((cstr(e.topic), e.partition, e.offset));
        }
    }
    out
}

unsafe fn cstr(p: *const std::ffi::c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}
