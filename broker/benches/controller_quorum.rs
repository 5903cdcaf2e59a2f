//! What the metadata quorum costs and how fast its controller fails over, on real processes:
//! three dedicated controllers and one broker ([`support::quorum::Quorum`]), and for contrast
//! one combined node that is its quorum's only voter.
//!
//! - Metadata commit latency: CreateTopics of one RF=1 partition, one at a time, through the
//!   broker (forwarded in an Envelope to the active controller, answered once a majority of
//!   the voters fetched the records) — and on the single-voter node, where a record commits
//!   once it is in the one log.
//! - Controller failover: `kill -9` of the active controller to a new leader and to the first
//!   CreateTopics that succeeds through the broker; the killed controller is restarted and
//!   caught up before the next kill. Then up to five graceful stops (SIGTERM: the leader
//!   resigns with EndQuorumEpoch) to a new leader. Default
//!   `controller.quorum.election.timeout.ms` (1000) and fetch timeout (2000).
//!
//! Run with `cargo bench -p kafka-lab-broker --bench controller_quorum`. Prints markdown
//! tables; never asserts anything about performance.
//!
//! Environment:
//! - `BENCH_COMMITS=N`: CreateTopics per latency scenario (default 300).
//! - `BENCH_KILLS=N`: active-controller kills (default 20; 0 skips the failover part).
//!
//! Without `--bench` among its arguments (`cargo test --all-targets`) it exits at once.

// Drives the real binary from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use support::quorum::{create_topic, Quorum};
use support::TestBroker;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}: not a number: {v}")))
        .unwrap_or(default)
}

/// The `p`-th percentile (0..=100) of sorted `samples`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// `count` CreateTopics one after another on `port`: each one's latency, sorted.
fn commit_latencies(port: u16, prefix: &str, count: usize) -> Vec<Duration> {
    let mut latencies: Vec<Duration> = (0..count)
        .map(|i| {
            let started = Instant::now();
            let error = create_topic(port, &format!("{prefix}-{i}"));
            assert_eq!(error, 0, "CreateTopics {prefix}-{i}");
            started.elapsed()
        })
        .collect();
    latencies.sort();
    latencies
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let commits: usize = env_or("BENCH_COMMITS", 300);
    let kills: usize = env_or("BENCH_KILLS", 20);

    println!("## Metadata commit latency (CreateTopics, one at a time, {commits} each)\n");
    println!("| quorum | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|");
    let single = TestBroker::start();
    let latencies = commit_latencies(single.port, "single", commits);
    println!(
        "| 1 voter (combined node, on the node) | {} | {} | {} |",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        ms(*latencies.last().unwrap())
    );
    drop(single);

    let mut quorum = Quorum::start(1, &[]);
    let broker_port = quorum.brokers[&4].port;
    let within = Duration::from_secs(30);
    quorum.wait_for_caught_up(&[1, 2, 3], &[1, 2, 3], within);
    let latencies = commit_latencies(broker_port, "three", commits);
    println!(
        "| 3 voters (dedicated, through a broker) | {} | {} | {} |",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        ms(*latencies.last().unwrap())
    );
    if kills == 0 {
        return;
    }

    let mut elections = Vec::new();
    let mut failovers = Vec::new();
    for kill in 0..kills {
        let (leader, epoch, _, _) = quorum.wait_for_caught_up(&[1, 2, 3], &[1, 2, 3], within);
        let killed_at = Instant::now();
        quorum.controllers.get_mut(&leader).unwrap().kill9();
        let running: Vec<i32> = (1..=3).filter(|id| *id != leader).collect();
        let mut elected = None;
        loop {
            if elected.is_none() && quorum.leader(&running).is_some_and(|(_, e, _, _)| e > epoch) {
                elected = Some(killed_at.elapsed());
            }
            let error = create_topic(broker_port, &format!("failover-{kill}"));
            if error == 0 || error == ResponseError::TopicAlreadyExists.code() {
                break;
            }
            assert!(killed_at.elapsed() < within, "no metadata change within {within:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
        failovers.push(killed_at.elapsed());
        elections.push(elected.unwrap_or_else(|| killed_at.elapsed()));
        quorum.controllers.get_mut(&leader).unwrap().start_again();
    }
    // Graceful stops (SIGTERM): the leader resigns with EndQuorumEpoch, another stands at once.
    let mut handovers = Vec::new();
    for stop in 0..kills.min(5) {
        let (leader, epoch, _, _) = quorum.wait_for_caught_up(&[1, 2, 3], &[1, 2, 3], within);
        let stopped_at = Instant::now();
        quorum.controllers.get_mut(&leader).unwrap().stop();
        let running: Vec<i32> = (1..=3).filter(|id| *id != leader).collect();
        while quorum.leader(&running).is_none_or(|(_, e, _, _)| e <= epoch) {
            assert!(stopped_at.elapsed() < within, "no leader after stop {stop}");
            std::thread::sleep(Duration::from_millis(5));
        }
        handovers.push(stopped_at.elapsed());
        quorum.controllers.get_mut(&leader).unwrap().start_again();
    }
    elections.sort();
    failovers.sort();
    handovers.sort();
    println!("\n## Controller failover ({kills} kills of the active controller)\n");
    println!("| measured from | median ms | p99 ms | max ms |");
    println!("|---|---|---|---|");
    for (what, samples) in [
        ("the kill to a new leader", &elections),
        ("the kill to the first successful CreateTopics", &failovers),
        ("a SIGTERM (the leader resigns) to a new leader", &handovers),
    ] {
        println!(
            "| {what} | {} | {} | {} |",
            ms(percentile(samples, 50.0)),
            ms(percentile(samples, 99.0)),
            ms(*samples.last().unwrap())
        );
    }
}
