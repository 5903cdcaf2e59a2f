//! `timeline.html` for a cluster run: every lane and chart is there, drawn from the run.

use kafka_lab_chaos::config::AcksMode;
use kafka_lab_chaos::{run, SimConfig};

#[test]
fn a_cluster_runs_timeline_shows_nodes_clients_leaders_and_unseen_records() {
    // acks=all throughout: nothing acknowledged may stay unseen (acks=1 losses would).
    let config = SimConfig {
        seed: 12,
        duration_ms: 5_000,
        intensity: 2.0,
        acks: AcksMode::All,
        ..SimConfig::cluster(3)
    };
    let outcome = run(&config);
    assert!(outcome.ok(), "{:?} {:?}", outcome.crashed, outcome.verdicts);
    let page = kafka_lab_chaos::timeline::render(&outcome);
    assert_eq!(page.matches("<svg").count(), 4, "lanes, leaders, high watermarks, acked vs read");
    for lane in
        ["node 1", "node 3", "producer-0", "group-consumer-2", "metadata quorum", "partition 2"]
    {
        assert!(page.contains(&format!("\n{lane}\n")), "no {lane} lane");
    }
    assert!(page.contains("--seed 12 --nodes 3"), "the replay command is on the page");
    // Once healed, nothing acknowledged with acks=all stays unseen in a passing run.
    let points = kafka_lab_chaos::timeline::acked_vs_read(&outcome.events, outcome.sim_ms);
    let last = points.last().expect("points");
    assert!(last.acknowledged > 20, "records were acknowledged: {last:?}");
    assert_eq!(last.unseen, 0, "acknowledged records left unseen: {last:?}");
}
