//! One simulation run: build the turmoil world, inject the schedule's faults during chaos,
//! heal, wait for the final read, and hand the history to the checkers.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::checkers::{self, Verdict};
use crate::clients::producer::ProducerSettings;
use crate::clients::{self, ClientContext, Phase};
use crate::config::SimConfig;
use crate::history::{self, Event, History};
use crate::hosts::broker::{BrokerHost, EPOCH_MS};
use crate::schedule::{self, Direction, Fault, FaultKind};

/// Network latency outside latency spikes.
const BASE_MAX_LATENCY: Duration = Duration::from_millis(10);

/// How often each running node's state is sampled (simulated ms).
pub const SAMPLE_MS: u64 = 100;

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// What was run.
    pub config: SimConfig,
    /// The faults derived from the seed.
    pub schedule: Vec<Fault>,
    /// Every event, faults included.
    pub events: Vec<Event>,
    /// Hash of `events`: equal for two runs of one seed.
    pub history_hash: u64,
    /// Simulated milliseconds the run took.
    pub sim_ms: u64,
    /// The checkers' verdicts, in a fixed order.
    pub verdicts: Vec<Verdict>,
    /// A host failed or panicked (e.g. a broker invariant); the message.
    pub crashed: Option<String>,
}

impl RunOutcome {
    /// Whether every checker passed and nothing panicked.
    pub fn ok(&self) -> bool {
        self.crashed.is_none() && self.verdicts.iter().all(|v| v.ok)
    }
}

/// Runs the simulation for `config`. Deterministic: the same config gives the same outcome.
pub fn run(config: &SimConfig) -> RunOutcome {
    let history = History::default();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        simulate(config, history.clone())
    }));
    let (schedule, sim_ms, crashed) = match result {
        Ok(Ok((schedule, sim_ms))) => (schedule, sim_ms, None),
        Ok(Err((schedule, sim_ms, e))) => (schedule, sim_ms, Some(e)),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".to_owned());
            (Vec::new(), 0, Some(format!("panic: {message}")))
        }
    };
    let events = history.events();
    let verdicts = checkers::check_all(config, &events);
    RunOutcome {
        config: config.clone(),
        schedule,
        history_hash: history::hash(&events),
        events,
        sim_ms,
        verdicts,
        crashed,
    }
}

type SimResult = Result<(Vec<Fault>, u64), (Vec<Fault>, u64, String)>;

fn simulate(config: &SimConfig, history: History) -> SimResult {
    let mut sim = turmoil::Builder::new()
        .rng_seed(config.seed)
        .epoch(std::time::UNIX_EPOCH + Duration::from_millis(EPOCH_MS as u64))
        .simulation_duration(Duration::from_millis(
            config.duration_ms + config.heal_timeout_ms + 60_000,
        ))
        .tick_duration(Duration::from_millis(config.tick_ms.max(1)))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(BASE_MAX_LATENCY)
        // Links broken by message loss repair themselves quickly.
        .repair_rate(0.3)
        .build();

    // Under the simulator the broker's tasks go on each host's LocalSet (see the guard).
    let _local_tasks = kafka_lab_broker::runtime::use_local_tasks();
    let mut brokers = BTreeMap::new();
    for node_id in 1..=config.nodes.max(1) {
        let broker = BrokerHost::new(node_id, config, history.clone())
            .map_err(|e| (Vec::new(), 0, e.to_string()))?;
        broker.install(&mut sim);
        brokers.insert(node_id, broker);
    }

    let ctx = ClientContext::new(
        brokers.values().map(BrokerHost::address).collect(),
        Duration::from_millis(config.request_timeout_ms),
        config.partitions,
        history.clone(),
    );
    if config.nodes > 1 {
        // The topic is created once, through the controller, as an operator would.
        sim.client("admin", clients::admin::create_topic(ctx.clone(), config.clone()));
    }
    let mut clients_names = Vec::new();
    for i in 0..config.producers {
        let name = format!("producer-{i}");
        let seed = config.seed.wrapping_mul(31).wrapping_add(i as u64);
        let future = clients::producer::run(
            ctx.clone(),
            name.clone(),
            ProducerSettings::for_index(i, config.acks),
            seed,
            ctx.start_work(),
        );
        sim.client(name.as_str(), future);
        clients_names.push(name);
    }
    for i in 0..config.consumers {
        let name = format!("consumer-{i}");
        let future = clients::consumer::run(ctx.clone(), name.clone(), ctx.start_work());
        sim.client(name.as_str(), future);
        clients_names.push(name);
    }
    let mut group_members = Vec::new();
    for i in 0..config.group_consumers {
        let name = format!("group-consumer-{i}");
        let future = clients::group::run(ctx.clone(), name.clone(), config.session_timeout_ms);
        sim.client(name.as_str(), future);
        clients_names.push(name.clone());
        group_members.push(name);
    }
    sim.client("final-reader", clients::consumer::final_read(ctx.clone()));

    let faults = schedule::derive(config, &clients_names, &group_members);
    // Start and end of every fault, in time order (ends before starts at the same instant).
    let mut actions: Vec<(u64, bool, usize)> = faults
        .iter()
        .enumerate()
        .flat_map(|(i, f)| {
            let end = (f.at_ms + f.duration_ms).min(config.duration_ms);
            [(f.at_ms, true, i), (end, false, i)]
        })
        .collect();
    actions.sort_by_key(|(at, start, i)| (*at, *start, *i));
    let mut next_action = 0;
    let mut next_sample = 0;
    let mut healed = false;
    let deadline_ms = config.duration_ms + config.heal_timeout_ms;
    let elapsed_ms = |sim: &turmoil::Sim<'_>| sim.elapsed().as_millis() as u64;
    loop {
        let now = elapsed_ms(&sim);
        while next_action < actions.len() && actions[next_action].0 <= now && !healed {
            let (_, start, i) = actions[next_action];
            next_action += 1;
            apply(&mut sim, &brokers, &clients_names, &ctx, &faults[i], start, &history, now);
        }
        if !healed && now >= config.duration_ms {
            healed = true;
            ctx.clear_controls();
            heal(&mut sim, &brokers, &clients_names, &history, now);
            ctx.set_phase(Phase::Heal);
        }
        // A node done with its controlled shutdown has exited: its tasks and connections go.
        for broker in brokers.values() {
            if broker.take_stopped() {
                sim.crash(broker.name());
            }
        }
        if now >= next_sample {
            next_sample = now + SAMPLE_MS;
            for broker in brokers.values().filter(|b| sim.is_host_running(b.name())) {
                history.extend(broker.sample(now));
            }
        }
        if now >= deadline_ms {
            history.push(Event::FinalRead { time_ms: now, complete: false });
            break;
        }
        match sim.step() {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => return Err((faults, elapsed_ms(&sim), e.to_string())),
        }
    }
    let sim_ms = elapsed_ms(&sim);
    for broker in brokers.values().filter(|b| sim.is_host_running(b.name())) {
        history.extend(broker.metadata_log());
    }
    if config.nodes > 1 {
        for broker in brokers.values() {
            for partition in 0..config.partitions {
                history.push(broker.replica_log(partition));
            }
        }
    }
    Ok((faults, sim_ms))
}

#[allow(clippy::too_many_arguments)]
fn apply(
    sim: &mut turmoil::Sim<'_>,
    brokers: &BTreeMap<i32, BrokerHost>,
    clients: &[String],
    ctx: &ClientContext,
    fault: &Fault,
    start: bool,
    history: &History,
    now: u64,
) {
    let name = |node: &i32| BrokerHost::host_name(*node);
    match (&fault.kind, start) {
        (FaultKind::Partition { client, node, direction: Direction::Both }, true) => {
            sim.partition(client.as_str(), name(node))
        }
        (FaultKind::Partition { client, node, direction: Direction::Both }, false) => {
            sim.repair(client.as_str(), name(node))
        }
        (FaultKind::Partition { client, node, direction: Direction::ToBroker }, true) => {
            sim.partition_oneway(client.as_str(), name(node))
        }
        (FaultKind::Partition { client, node, direction: Direction::ToBroker }, false) => {
            sim.repair_oneway(client.as_str(), name(node))
        }
        (FaultKind::Partition { client, node, direction: Direction::FromBroker }, true) => {
            sim.partition_oneway(name(node), client.as_str())
        }
        (FaultKind::Partition { client, node, direction: Direction::FromBroker }, false) => {
            sim.repair_oneway(name(node), client.as_str())
        }
        (FaultKind::Hold { client, node }, true) => sim.hold(client.as_str(), name(node)),
        (FaultKind::Hold { client, node }, false) => sim.release(client.as_str(), name(node)),
        (FaultKind::LatencySpike { client, node, max_ms }, true) => sim
            .set_link_max_message_latency(
                client.as_str(),
                name(node),
                Duration::from_millis(*max_ms),
            ),
        (FaultKind::LatencySpike { client, node, .. }, false) => {
            sim.set_link_max_message_latency(client.as_str(), name(node), BASE_MAX_LATENCY)
        }
        (FaultKind::MessageLoss { client, node, rate }, true) => {
            sim.set_link_fail_rate(client.as_str(), name(node), *rate)
        }
        (FaultKind::MessageLoss { client, node, .. }, false) => {
            sim.set_link_fail_rate(client.as_str(), name(node), 0.0);
            sim.repair(client.as_str(), name(node));
        }
        (FaultKind::BrokerCrash { node, torn }, true) => {
            let broker = &brokers[node];
            sim.crash(broker.name());
            broker.forget_live();
            broker.crash_disk(*torn, fault.at_ms ^ broker.node_id as u64);
        }
        (FaultKind::BrokerCrash { node, .. }, false) => sim.bounce(name(node)),
        (FaultKind::NodeIsolated { node }, _) => {
            for other in brokers.keys().filter(|other| *other != node) {
                if start {
                    sim.partition(name(node), name(other));
                } else {
                    sim.repair(name(node), name(other));
                }
            }
        }
        (FaultKind::NodePaused { node }, _) => {
            let others = brokers.keys().filter(|other| *other != node).map(name);
            for other in others.chain(clients.iter().cloned()).chain(client_hosts(true)) {
                if start {
                    sim.hold(name(node), other);
                } else {
                    sim.release(name(node), other);
                }
            }
        }
        (FaultKind::ControlledShutdown { node, .. }, true) => brokers[node].request_shutdown(),
        (FaultKind::ControlledShutdown { node, .. }, false) => {
            // Back after its downtime; one still shutting down is killed first (as an
            // operator's restart does after its timeout), its disk kept.
            let broker = &brokers[node];
            broker.forget_live();
            sim.crash(broker.name());
            sim.bounce(broker.name());
        }
        (FaultKind::ConsumerStall { client }, _) => {
            ctx.update_control(client, |c| c.stalled = start)
        }
        (FaultKind::MemberLeave { client }, _) => ctx.update_control(client, |c| c.away = start),
    }
    let verb = if start { "start" } else { "end" };
    let action = format!("{verb} {}", serde_json::to_string(fault).expect("faults serialize"));
    history.push(Event::Fault { time_ms: now, action });
}

fn heal(
    sim: &mut turmoil::Sim<'_>,
    brokers: &BTreeMap<i32, BrokerHost>,
    clients: &[String],
    history: &History,
    now: u64,
) {
    for broker in brokers.values() {
        let broker = broker.name();
        let broker = broker.as_str();
        for client in clients.iter().cloned().chain(client_hosts(brokers.len() > 1)) {
            sim.set_link_fail_rate(client.as_str(), broker, 0.0);
            sim.set_link_max_message_latency(client.as_str(), broker, BASE_MAX_LATENCY);
            sim.repair(client.as_str(), broker);
            sim.release(client.as_str(), broker);
        }
        for other in brokers.values().filter(|b| b.name() != broker) {
            sim.repair(broker, other.name());
            sim.release(broker, other.name());
        }
    }
    for broker in brokers.values() {
        if !sim.is_host_running(broker.name()) {
            sim.bounce(broker.name());
        }
    }
    history.push(Event::Fault { time_ms: now, action: "heal".to_owned() });
}

/// The client hosts besides the workload's: the final reader and, in a cluster, the admin.
fn client_hosts(cluster: bool) -> impl Iterator<Item = String> {
    let admin = cluster.then(|| "admin".to_owned());
    std::iter::once("final-reader".to_owned()).chain(admin)
}
