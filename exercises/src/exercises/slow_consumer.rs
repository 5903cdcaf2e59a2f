//! Exercise `slow-consumer` (course module 10, tasks 1 and 3: "Simulate high lag and fix it",
//! "Optimise a slow consumer"): group `orders-audit` reads `kafka-lab up`'s demo topic
//! (`demo-orders`, 3 partitions, 20 records/s) but takes 200 ms per record. The learner finds
//! it from the lag (`kafka-lab consumer-groups --describe`, the lag exporter's metrics) and
//! fixes it. The checker reads the exporter's `/metrics`, then measures over a few seconds how
//! fast the topic grows and how fast the group commits, and says what limits the group: its
//! members' speed and the partitions that cap how many members share the work.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use kafka_lab_admin::groups::{GroupCluster, OffsetSpec};

use crate::cluster_lab::ClusterLab;
use crate::{Phase, Report, Solution};

/// The topic: `kafka-lab up`'s demo topic, with a steady producer.
pub const TOPIC: &str = "demo-orders";
/// The group the exercise is about.
pub const GROUP: &str = "orders-audit";
/// How long the checker measures.
pub const MEASURE_FOR: Duration = Duration::from_secs(5);
/// The lag exporter metric read (seglo's name: the group's lag summed over partitions).
pub const LAG_METRIC: &str = "kafka_consumergroup_group_sum_lag";

/// The slow consumer the steps start.
pub fn slow_command(lab: &ClusterLab) -> String {
    format!(
        "kafka-lab lab consume {} --group {GROUP} --topic {TOPIC} --client-id audit-1 --process-ms 200",
        lab.bootstrap_flag()
    )
}

/// `GET /metrics` from the exporter; the body.
fn scrape(address: &str) -> Result<String, String> {
    let addr = address
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| format!("{address} resolves to nothing"))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(3)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {address}\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut text = String::new();
    stream.read_to_string(&mut text).map_err(|e| e.to_string())?;
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP response")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(head.lines().next().unwrap_or_default().to_owned());
    }
    Ok(body.to_owned())
}

/// The value of `LAG_METRIC` for `GROUP` in a Prometheus text body.
fn exported_lag(body: &str) -> Option<f64> {
    body.lines()
        .filter(|l| l.starts_with(&format!("{LAG_METRIC}{{")))
        .find(|l| l.contains(&format!("group=\"{GROUP}\"")))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// (log end offsets summed, committed offsets summed) of the topic and the group now.
fn offsets(groups: &mut GroupCluster, partitions: usize) -> anyhow::Result<(i64, i64)> {
    let all: Vec<(String, i32)> = (0..partitions as i32).map(|p| (TOPIC.to_string(), p)).collect();
    let ends = groups.list_offsets(&all, OffsetSpec::Latest)?;
    let committed = groups.committed_offsets(GROUP)?.map_err(anyhow::Error::msg)?;
    let end: i64 = ends.values().sum();
    // A partition without a commit counts from its start: its whole log is lag.
    let starts = groups.list_offsets(&all, OffsetSpec::Earliest)?;
    let done: i64 = all
        .iter()
        .map(|tp| committed.get(tp).map_or(starts.get(tp).copied().unwrap_or(0), |c| c.offset))
        .sum();
    Ok((end, done))
}

pub fn check(lab: &ClusterLab) -> Report {
    let mut report = Report::default();
    let mut groups = match lab.groups() {
        Ok(g) => g,
        Err(e) => {
            report.fail_msg(format!("{e:#}"));
            return report;
        }
    };
    let partitions = match groups.partitions(&[TOPIC.to_string()]) {
        Ok(t) => t.get(TOPIC).and_then(|a| a.as_ref().ok()).map_or(0, Vec::len),
        Err(e) => {
            report.fail_msg(format!("Metadata failed on {}: {e}", lab.bootstrap_servers));
            return report;
        }
    };
    if partitions == 0 {
        report.fail(
            format!("topic {TOPIC} does not exist"),
            "start kafka-lab up: it creates demo-orders and writes 20 records/s to it",
        );
        return report;
    }

    match scrape(&lab.exporter) {
        Ok(body) => match exported_lag(&body) {
            Some(lag) => report.pass(format!(
                "the lag exporter at {} reports {LAG_METRIC}{{group=\"{GROUP}\"}} = {lag}",
                lab.exporter
            )),
            None => report.fail(
                format!("the lag exporter at {} has no {LAG_METRIC} for group {GROUP} yet", lab.exporter),
                "start the group's consumer and let the exporter poll once more: curl -s http://127.0.0.1:8000/metrics | grep orders-audit",
            ),
        },
        Err(e) => report.fail(
            format!("no lag exporter answers on {} ({e})", lab.exporter),
            "kafka-lab up runs one on 127.0.0.1:8000; elsewhere start kafka-lab lag-exporter --bootstrap-servers <yours> and pass --exporter host:port",
        ),
    }

    let group = match groups.describe_group(GROUP) {
        Ok(Ok(g)) => g,
        Ok(Err(e)) => {
            report.fail_msg(format!("DescribeGroups {GROUP}: {e}"));
            return report;
        }
        Err(e) => {
            report.fail_msg(format!("DescribeGroups {GROUP}: {e}"));
            return report;
        }
    };
    if group.members.is_empty() {
        report.fail(
            format!("group {GROUP} has no members ({})", group.state),
            format!("start the consumer: {}", slow_command(lab)),
        );
        return report;
    }
    let busy = group.members.iter().filter(|m| !m.assignment.is_empty()).count();
    let idle: Vec<&str> = group
        .members
        .iter()
        .filter(|m| m.assignment.is_empty())
        .map(|m| m.client_id.as_str())
        .collect();
    if !idle.is_empty() {
        report.pass(format!(
            "member(s) {} of {GROUP} have no partition: {TOPIC} has {partitions}, so at most {partitions} members share the work",
            idle.join(", ")
        ));
    }

    let before = offsets(&mut groups, partitions);
    std::thread::sleep(MEASURE_FOR);
    let after = offsets(&mut groups, partitions);
    let ((end0, done0), (end1, done1)) = match (before, after) {
        (Ok(b), Ok(a)) => (b, a),
        (Err(e), _) | (_, Err(e)) => {
            report.fail_msg(format!("reading the offsets of {GROUP} failed: {e:#}"));
            return report;
        }
    };
    let seconds = MEASURE_FOR.as_secs_f64();
    let produced = (end1 - end0) as f64 / seconds;
    let consumed = (done1 - done0) as f64 / seconds;
    let (lag0, lag1) = (end0 - done0, end1 - done1);
    if produced <= 0.0 {
        report.fail(
            format!("nothing was written to {TOPIC} in {seconds} s"),
            "the exercise needs a steady producer: run kafka-lab up (its demo producer writes 20 records/s)",
        );
        return report;
    }
    // 10 % for a commit in flight at either end of the window.
    if consumed >= produced * 0.9 {
        let drain = if lag1 > (produced * 10.0) as i64 && consumed > produced {
            format!("; the backlog drains in about {:.0} s", lag1 as f64 / (consumed - produced))
        } else {
            String::new()
        };
        report.pass(format!(
            "group {GROUP} keeps up: it committed {consumed:.1} records/s while {produced:.1}/s were written; lag {lag0} → {lag1}{drain}"
        ));
    } else {
        let per_member = consumed / busy.max(1) as f64;
        report.fail(
            format!(
                "group {GROUP} falls behind: it committed {consumed:.1} records/s while {produced:.1}/s were written; lag grew from {lag0} to {lag1} in {seconds} s"
            ),
            format!(
                "each of its {busy} busy member(s) handles about {per_member:.1} records/s, and the {partitions} partitions of {TOPIC} let at most {partitions} share the work ({:.1}/s at best): process each record faster (restart the members with a smaller --process-ms) or add partitions (kafka-lab topics {} --alter --topic {TOPIC} --partitions 6) and as many members",
                per_member * partitions as f64,
                lab.bootstrap_flag()
            ),
        );
    }
    report
}

/// The cluster side of the fix; the consumer is the learner's process, so the solution says
/// how to restart it.
pub fn solve(lab: &ClusterLab, phase: Phase) -> anyhow::Result<Solution> {
    let mut solution = Solution::default();
    if phase == Phase::Files {
        return Ok(solution);
    }
    solution.actions.push(format!(
        "the consumer is yours: stop it (Ctrl-C) and start two members that take 20 ms per record (50 records/s each): {} --group {GROUP} --topic {TOPIC} --client-id audit-1 --process-ms 20 (and audit-2)",
        format_args!("kafka-lab lab consume {}", lab.bootstrap_flag())
    ));
    Ok(solution)
}
