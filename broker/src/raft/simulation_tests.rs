//! The quorum's state machine under simulated faults, seeded and replayable, checked against the
//! invariants of Kafka's `RaftEventSimulationTest`: MonotonicEpoch, SingleLeader,
//! MonotonicHighWatermark, MajorityReachedHighWatermark and ConsistentCommittedData — with
//! lost, delayed and reordered messages, nodes cut off (both ways or one way), and crashes that
//! lose everything but the durable log, its snapshots and `quorum-state`. Nodes snapshot their
//! committed records and clean the log below (KIP-630), so a node that fell behind catches up
//! through FetchSnapshot, checked by SnapshotAtLogStart: a log starting past 0 has a snapshot
//! there, and no leader reads its log below its start. After the faults heal, the quorum must
//! elect one leader and every voter must hold the same committed log.
//!
//! Each deliberate protocol violation ([`Fault`]) is caught within a bounded number of seeds,
//! so the checkers are shown to be able to fail.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use kafka_protocol::error::ResponseError;

use super::client::{
    Action, BatchHeader, Fault, LogView, OffsetAndEpoch, QuorumConfig, RaftClient, Records,
    Request, Response,
};
use super::election_state::ElectionState;

/// One record of the simulated log; payload 0 is a leader-change record.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    offset: i64,
    epoch: i32,
    payload: u64,
}

/// Most records one simulated fetch returns, so catching up takes several fetches.
const FETCH_MAX_RECORDS: usize = 16;

const FAULT_PHASE_MS: u64 = 20_000;
const HEAL_PHASE_MS: u64 = 12_000;
const POLL_INTERVAL_MS: u64 = 5;
const APPEND_INTERVAL_MS: u64 = 25;
/// How often a node considers a snapshot, and how many committed records past the last one
/// call for the next.
const SNAPSHOT_INTERVAL_MS: u64 = 400;
const SNAPSHOT_MIN_RECORDS: i64 = 10;

struct Node {
    id: i32,
    client: Option<RaftClient<Vec<Entry>>>,
    /// Durable: survives a crash.
    log: Vec<Entry>,
    /// Durable: survives a crash.
    election: ElectionState,
    /// Durable: the log's first offset; the records below it are only in a snapshot.
    log_start: i64,
    /// Durable: snapshots of committed records, by id (the records below the end offset).
    snapshots: BTreeMap<OffsetAndEpoch, Vec<Entry>>,
    /// Durable: the snapshot being fetched (a `.part` file).
    fetching: Vec<Entry>,
    incarnation: u32,
    /// The high watermark reported in this incarnation.
    high_watermark: Option<i64>,
    restart_at: Option<u64>,
}

#[derive(Debug)]
enum Envelope {
    Request {
        from: i32,
        to: i32,
        token: u64,
        request: Request,
    },
    Response {
        from: i32,
        to: i32,
        incarnation: u32,
        request_id: u64,
        response: Response<Records<Vec<Entry>>>,
    },
}

/// Where a reply goes: the requester, its incarnation and its request id.
#[derive(Clone, Copy)]
struct ReplyTo {
    requester: i32,
    incarnation: u32,
    request_id: u64,
}

#[derive(Debug, Default)]
struct Stats {
    elections: usize,
    max_epoch: i32,
    committed: usize,
    crashes: usize,
    isolations: usize,
    one_way_cuts: usize,
    messages: usize,
    dropped: usize,
    snapshots_written: usize,
    cleanings: usize,
    snapshots_fetched: usize,
}

struct Simulation {
    seed: u64,
    rng: ChaCha8Rng,
    config: QuorumConfig,
    voters: BTreeSet<i32>,
    nodes: BTreeMap<i32, Node>,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    in_transit: BTreeMap<u64, Envelope>,
    replies: BTreeMap<u64, ReplyTo>,
    next_token: u64,
    /// Directed links that drop everything, until the given time.
    cut: BTreeMap<(i32, i32), u64>,
    loss: f64,
    max_latency_ms: u64,
    next_payload: u64,
    /// SingleLeader: who was elected in each epoch.
    leaders: BTreeMap<i32, i32>,
    /// ConsistentCommittedData: the committed prefix, as the first node to commit each saw it.
    committed: Vec<Entry>,
    trace: u64,
    stats: Stats,
}

impl Simulation {
    fn new(seed: u64, config: QuorumConfig) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let voter_count = [1, 3, 3, 5][rng.gen_range(0..4)];
        let voters: BTreeSet<i32> = (1..=voter_count).collect();
        let mut sim = Self {
            seed,
            rng,
            config,
            voters: voters.clone(),
            nodes: BTreeMap::new(),
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            in_transit: BTreeMap::new(),
            replies: BTreeMap::new(),
            next_token: 0,
            cut: BTreeMap::new(),
            loss: 0.0,
            max_latency_ms: 5,
            next_payload: 1,
            leaders: BTreeMap::new(),
            committed: Vec::new(),
            trace: 0,
            stats: Stats::default(),
        };
        // The voters and one observer (a broker following the metadata log).
        for id in voters.iter().copied().chain([100]) {
            let node = Node {
                id,
                client: None,
                log: Vec::new(),
                election: ElectionState::initial(),
                log_start: 0,
                snapshots: BTreeMap::new(),
                fetching: Vec::new(),
                incarnation: 0,
                high_watermark: None,
                restart_at: None,
            };
            sim.nodes.insert(id, node);
            sim.start(id);
        }
        sim
    }

    fn fail(&self, what: String) -> String {
        format!("seed {} at {} ms: {what}", self.seed, self.now)
    }

    fn start(&mut self, id: i32) {
        let node = self.nodes.get_mut(&id).expect("a node");
        node.incarnation += 1;
        node.high_watermark = None;
        node.restart_at = None;
        let mut epochs: Vec<(i32, i64)> = Vec::new();
        for entry in &node.log[node.log_start as usize..] {
            if epochs.last().is_none_or(|e| e.0 != entry.epoch) {
                epochs.push((entry.epoch, entry.offset));
            }
        }
        let start_snapshot =
            node.snapshots.keys().copied().find(|s| s.offset == node.log_start && s.offset > 0);
        let latest_snapshot = node.snapshots.keys().next_back().copied();
        let log = LogView::new(node.log_start, node.log.len() as i64, epochs)
            .with_snapshots(start_snapshot, latest_snapshot);
        let seed =
            self.seed.wrapping_mul(1_000_003) ^ ((id as u64) << 16) ^ node.incarnation as u64;
        node.client = Some(RaftClient::new(
            self.config.clone(),
            id,
            self.voters.clone(),
            node.election.clone(),
            log,
            None,
            self.now,
            seed,
        ));
    }

    fn crash(&mut self, id: i32, down_ms: u64) {
        let node = self.nodes.get_mut(&id).expect("a node");
        if node.client.take().is_some() {
            node.restart_at = Some(self.now + down_ms);
            self.stats.crashes += 1;
        }
    }

    fn send(&mut self, envelope: Envelope) {
        let (from, to) = match &envelope {
            Envelope::Request { from, to, .. } | Envelope::Response { from, to, .. } => {
                (*from, *to)
            }
        };
        self.stats.messages += 1;
        let cut = self.cut.get(&(from, to)).is_some_and(|until| *until > self.now);
        if cut || self.rng.gen_bool(self.loss) {
            self.stats.dropped += 1;
            return;
        }
        let at = self.now + self.rng.gen_range(1..=self.max_latency_ms);
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq)));
        self.in_transit.insert(self.seq, envelope);
    }

    /// Applies a node's actions in order, checking the invariants as they happen.
    fn apply(&mut self, id: i32) -> Result<(), String> {
        let Some(actions) =
            self.nodes.get_mut(&id).and_then(|n| n.client.as_mut()).map(|c| c.take_actions())
        else {
            return Ok(());
        };
        for action in actions {
            self.trace =
                self.trace.wrapping_mul(31).wrapping_add(format!("{id}{action:?}").len() as u64);
            match action {
                Action::Send { request_id, to, request } => {
                    let token = self.next_token;
                    self.next_token += 1;
                    let incarnation = self.nodes[&id].incarnation;
                    self.replies.insert(token, ReplyTo { requester: id, incarnation, request_id });
                    self.send(Envelope::Request { from: id, to, token, request });
                }
                Action::Reply { token, response } => {
                    if let Response::Fetch { records: Some(range), .. } = &response {
                        let start = self.nodes[&id].log_start;
                        if range.start < start {
                            return Err(self.fail(format!(
                                "SnapshotAtLogStart: node {id} serves its log from {} below its \
                                 start {start}",
                                range.start
                            )));
                        }
                    }
                    let Some(reply_to) = self.replies.remove(&token) else { continue };
                    let response = self.materialise(id, response);
                    self.send(Envelope::Response {
                        from: id,
                        to: reply_to.requester,
                        incarnation: reply_to.incarnation,
                        request_id: reply_to.request_id,
                        response,
                    });
                }
                Action::PersistElectionState(state) => {
                    let node = &self.nodes[&id];
                    let old = &node.election;
                    // MonotonicEpoch, and one vote per epoch.
                    if state.epoch < old.epoch {
                        return Err(self.fail(format!(
                            "node {id} persisted epoch {} after {}",
                            state.epoch, old.epoch
                        )));
                    }
                    if state.epoch == old.epoch {
                        if let (Some(before), Some(after)) = (old.voted_id, state.voted_id) {
                            if before != after {
                                return Err(self.fail(format!(
                                    "node {id} voted for {before} and then {after} in epoch {}",
                                    state.epoch
                                )));
                            }
                        }
                    }
                    self.nodes.get_mut(&id).expect("a node").election = state;
                }
                Action::AppendLeaderChange { offset, epoch, .. } => {
                    self.append(id, vec![Entry { offset, epoch, payload: 0 }])?;
                }
                Action::AppendAsLeader { base_offset, epoch, data, count } => {
                    assert_eq!(count as usize, data.len());
                    assert!(data
                        .iter()
                        .enumerate()
                        .all(|(i, e)| e.offset == base_offset + i as i64 && e.epoch == epoch));
                    self.append(id, data)?;
                }
                Action::AppendAsFollower(records) => self.append(id, records.data)?,
                Action::TruncateTo(offset) => {
                    let node = self.nodes.get_mut(&id).expect("a node");
                    assert!(offset >= node.log_start, "a truncation keeps the log start");
                    node.log.truncate(offset as usize);
                }
                Action::AppendSnapshotChunk { snapshot_id, position, data } => {
                    let node = self.nodes.get_mut(&id).expect("a node");
                    if position == 0 {
                        node.fetching.clear();
                    }
                    let held = node.fetching.len();
                    if held as u64 != position {
                        return Err(self.fail(format!(
                            "node {id} writes {snapshot_id:?} at {position}, its download holds {held}"
                        )));
                    }
                    node.fetching.extend(data);
                }
                Action::LoadSnapshot(snapshot_id) => {
                    let node = self.nodes.get_mut(&id).expect("a node");
                    let snapshot = std::mem::take(&mut node.fetching);
                    let held = snapshot.len();
                    if held as i64 != snapshot_id.offset {
                        return Err(self.fail(format!(
                            "node {id} loads {snapshot_id:?} from a download of {held} records"
                        )));
                    }
                    node.log = snapshot.clone();
                    node.log_start = snapshot_id.offset;
                    node.snapshots = BTreeMap::from([(snapshot_id, snapshot)]);
                    self.stats.snapshots_fetched += 1;
                }
                Action::HighWatermark(hw) => self.check_high_watermark(id, hw)?,
                Action::LeaderChange { epoch, leader_id } => {
                    if let Some(leader) = leader_id {
                        let is_self = leader == id
                            && self.nodes[&id].client.as_ref().is_some_and(|c| c.is_leader());
                        match self.leaders.get(&epoch) {
                            Some(&elected) if elected != leader => {
                                return Err(self.fail(format!(
                                    "SingleLeader: node {id} sees {leader} leading epoch {epoch}, which elected {elected}"
                                )));
                            }
                            None if is_self => {
                                self.leaders.insert(epoch, leader);
                                self.stats.elections += 1;
                                self.stats.max_epoch = self.stats.max_epoch.max(epoch);
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        let node = &self.nodes[&id];
        if let Some(client) = &node.client {
            let end = client.log().end_offset();
            if end != node.log.len() as i64 {
                return Err(self.fail(format!(
                    "node {id}: the state machine's log ends at {end}, the log at {}",
                    node.log.len()
                )));
            }
        }
        self.check_snapshot_at_log_start(id)
    }

    /// SnapshotAtLogStart: a log that starts past 0 has a snapshot ending there, and the state
    /// machine sees the log start where it is.
    fn check_snapshot_at_log_start(&self, id: i32) -> Result<(), String> {
        let node = &self.nodes[&id];
        if node.log_start > 0 && !node.snapshots.keys().any(|s| s.offset == node.log_start) {
            return Err(self.fail(format!(
                "SnapshotAtLogStart: node {id}'s log starts at {} without a snapshot there",
                node.log_start
            )));
        }
        if let Some(client) = &node.client {
            if client.log().start_offset() != node.log_start {
                return Err(self.fail(format!(
                    "node {id}: the state machine's log starts at {}, the log at {}",
                    client.log().start_offset(),
                    node.log_start
                )));
            }
        }
        Ok(())
    }

    /// Each running node snapshots its committed records when enough are new, and cleans its
    /// log below its newest snapshot once it has two (as retention would, aggressively: so
    /// that nodes behind are sent snapshots often).
    fn snapshot_and_clean(&mut self, id: i32) -> Result<(), String> {
        let node = self.nodes.get_mut(&id).expect("a node");
        let Some(client) = node.client.as_mut() else { return Ok(()) };
        let Some(hw) = client.high_watermark() else { return Ok(()) };
        let latest = node.snapshots.keys().next_back().map_or(0, |s| s.offset);
        if hw < latest + SNAPSHOT_MIN_RECORDS || hw == 0 {
            return Ok(());
        }
        let snapshot_id = OffsetAndEpoch { offset: hw, epoch: node.log[hw as usize - 1].epoch };
        node.snapshots.insert(snapshot_id, node.log[..hw as usize].to_vec());
        client.snapshot_written(snapshot_id);
        self.stats.snapshots_written += 1;
        if node.snapshots.len() >= 2 {
            node.log_start = snapshot_id.offset;
            node.snapshots.retain(|s, _| *s >= snapshot_id);
            client.log_start_advanced(snapshot_id);
            self.stats.cleanings += 1;
        }
        self.check_snapshot_at_log_start(id)
    }

    /// The leader's driver answering FetchSnapshot from its snapshots, as
    /// `handlers/fetch_snapshot.rs` does.
    fn answer_fetch_snapshot(&mut self, to: i32, token: u64, request: Request) {
        let Request::FetchSnapshot { current_leader_epoch, snapshot_id, position, .. } = request
        else {
            unreachable!("a FetchSnapshot")
        };
        let node = &self.nodes[&to];
        let Some(client) = node.client.as_ref() else { return };
        let Some(reply_to) = self.replies.remove(&token) else { return };
        let snapshot = node.snapshots.get(&snapshot_id);
        let size = snapshot.map_or(0, |s| s.len() as u64);
        let error = client.leader_only_request_error(current_leader_epoch).or(match snapshot {
            None => Some(ResponseError::SnapshotNotFound),
            Some(_) if position >= size => Some(ResponseError::PositionOutOfRange),
            Some(_) => None,
        });
        let chunk = snapshot.filter(|_| error.is_none()).map(|s| {
            let end = (position as usize + FETCH_MAX_RECORDS).min(s.len());
            s[position as usize..end].to_vec()
        });
        let response = Response::FetchSnapshot {
            error,
            leader_epoch: client.epoch(),
            leader_id: client.leader_id(),
            snapshot_id,
            size,
            position,
            length: chunk.as_ref().map_or(0, |c| c.len() as u64),
            chunk: chunk.map(|data| Records { batches: Vec::new(), data }),
        };
        self.send(Envelope::Response {
            from: to,
            to: reply_to.requester,
            incarnation: reply_to.incarnation,
            request_id: reply_to.request_id,
            response,
        });
    }

    fn append(&mut self, id: i32, entries: Vec<Entry>) -> Result<(), String> {
        let node = self.nodes.get_mut(&id).expect("a node");
        for entry in entries {
            if entry.offset != node.log.len() as i64 {
                let len = node.log.len();
                return Err(self
                    .fail(format!("node {id} appended offset {} at log end {len}", entry.offset)));
            }
            node.log.push(entry);
        }
        Ok(())
    }

    /// A leader's reply with its records read from the durable log.
    fn materialise(
        &self,
        id: i32,
        response: Response<super::client::LogRange>,
    ) -> Response<Records<Vec<Entry>>> {
        response.map_records(|range| {
            let log = &self.nodes[&id].log;
            let end =
                (range.end as usize).min(log.len()).min(range.start as usize + FETCH_MAX_RECORDS);
            let data: Vec<Entry> = log[range.start as usize..end].to_vec();
            let batches = data
                .iter()
                .map(|e| BatchHeader {
                    base_offset: e.offset,
                    last_offset: e.offset,
                    epoch: e.epoch,
                })
                .collect();
            Records { batches, data }
        })
    }

    fn check_high_watermark(&mut self, id: i32, hw: i64) -> Result<(), String> {
        let node = &self.nodes[&id];
        // MonotonicHighWatermark, within an incarnation (a restarted node learns it anew).
        if let Some(previous) = node.high_watermark {
            if hw <= previous {
                return Err(self.fail(format!(
                    "MonotonicHighWatermark: node {id} moved from {previous} to {hw}"
                )));
            }
        }
        if hw > node.log.len() as i64 {
            return Err(
                self.fail(format!("node {id} committed {hw} past its log end {}", node.log.len()))
            );
        }
        // MajorityReachedHighWatermark: the leader commits what a majority holds as it does.
        if node.client.as_ref().is_some_and(|c| c.is_leader()) {
            let prefix = &node.log[..hw as usize];
            let holders = self
                .voters
                .iter()
                .filter(|v| {
                    let log = &self.nodes[v].log;
                    log.len() >= prefix.len() && &log[..prefix.len()] == prefix
                })
                .count();
            if holders < self.voters.len() / 2 + 1 {
                return Err(self.fail(format!(
                    "MajorityReachedHighWatermark: leader {id} committed {hw} held by {holders} of {} voters",
                    self.voters.len()
                )));
            }
        }
        // ConsistentCommittedData: every node commits the same records at the same offsets.
        for offset in 0..hw as usize {
            let entry = &self.nodes[&id].log[offset];
            match self.committed.get(offset) {
                Some(committed) if committed != entry => {
                    return Err(self.fail(format!(
                        "ConsistentCommittedData: node {id} committed {entry:?} at {offset}, \
                         where {committed:?} was committed"
                    )));
                }
                Some(_) => {}
                None => self.committed.push(entry.clone()),
            }
        }
        self.stats.committed = self.committed.len();
        self.nodes.get_mut(&id).expect("a node").high_watermark = Some(hw);
        Ok(())
    }

    fn deliver(&mut self, seq: u64) -> Result<(), String> {
        let envelope = self.in_transit.remove(&seq).expect("a message in transit");
        match envelope {
            Envelope::Request {
                to,
                token,
                request: request @ Request::FetchSnapshot { .. },
                ..
            } => {
                self.answer_fetch_snapshot(to, token, request);
                Ok(())
            }
            Envelope::Request { from, to, token, request } => {
                let Some(client) = self.nodes.get_mut(&to).and_then(|n| n.client.as_mut()) else {
                    return Ok(());
                };
                client.handle_request(self.now, from, token, request);
                client.poll(self.now);
                self.apply(to)
            }
            Envelope::Response { from, to, incarnation, request_id, response } => {
                let node = self.nodes.get_mut(&to).expect("a node");
                if node.incarnation != incarnation {
                    return Ok(());
                }
                let Some(client) = node.client.as_mut() else { return Ok(()) };
                client.handle_response(self.now, request_id, from, response);
                client.poll(self.now);
                self.apply(to)
            }
        }
    }

    /// Every 100 ms of the fault phase, perhaps a fault: about five crashes, three isolations,
    /// three one-way cuts and four changes of loss and latency in a run.
    fn inject_faults(&mut self) {
        if self.now % 100 != 0 {
            return;
        }
        let ids: Vec<i32> = self.nodes.keys().copied().collect();
        let pick = |rng: &mut ChaCha8Rng| ids[rng.gen_range(0..ids.len())];
        if self.rng.gen_bool(0.025) {
            let id = pick(&mut self.rng);
            let down = self.rng.gen_range(100..4_000);
            self.crash(id, down);
        }
        if self.rng.gen_bool(0.015) {
            let id = pick(&mut self.rng);
            let until = self.now + self.rng.gen_range(500..5_000);
            for &other in &ids {
                if other != id {
                    self.cut.insert((id, other), until);
                    self.cut.insert((other, id), until);
                }
            }
            self.stats.isolations += 1;
        }
        if self.rng.gen_bool(0.015) {
            let (from, to) = (pick(&mut self.rng), pick(&mut self.rng));
            if from != to {
                let until = self.now + self.rng.gen_range(500..5_000);
                self.cut.insert((from, to), until);
                self.stats.one_way_cuts += 1;
            }
        }
        if self.rng.gen_bool(0.02) {
            self.loss = [0.0, 0.01, 0.05, 0.2][self.rng.gen_range(0..4)];
            self.max_latency_ms = [2, 5, 20, 100][self.rng.gen_range(0..4)];
        }
    }

    fn heal(&mut self) {
        self.cut.clear();
        self.loss = 0.0;
        self.max_latency_ms = 5;
        let down: Vec<i32> =
            self.nodes.values().filter(|n| n.client.is_none()).map(|n| n.id).collect();
        for id in down {
            self.start(id);
        }
    }

    fn run(mut self) -> Result<Stats, String> {
        let end = FAULT_PHASE_MS + HEAL_PHASE_MS;
        let mut healed = false;
        while self.now < end {
            while let Some(Reverse((at, seq))) = self.queue.peek().copied() {
                if at > self.now {
                    break;
                }
                self.queue.pop();
                self.deliver(seq)?;
            }
            if self.now < FAULT_PHASE_MS {
                self.inject_faults();
            } else if !healed {
                self.heal();
                healed = true;
            }
            let restarts: Vec<i32> = self
                .nodes
                .values()
                .filter(|n| n.restart_at.is_some_and(|at| at <= self.now))
                .map(|n| n.id)
                .collect();
            for id in restarts {
                self.start(id);
            }
            // Appends stop two seconds before the end, so the quorum can settle.
            if self.now % APPEND_INTERVAL_MS == 0 && self.now + 2_000 < end {
                let leaders: Vec<i32> = self
                    .nodes
                    .values()
                    .filter(|n| n.client.as_ref().is_some_and(|c| c.is_leader()))
                    .map(|n| n.id)
                    .collect();
                for id in leaders {
                    let payload = self.next_payload;
                    self.next_payload += 1;
                    let now = self.now;
                    let client =
                        self.nodes.get_mut(&id).and_then(|n| n.client.as_mut()).expect("a leader");
                    let offset = client.log().end_offset();
                    let epoch = client.epoch();
                    client
                        .append(now, 1, vec![Entry { offset, epoch, payload }])
                        .expect("a leader appends");
                    self.apply(id)?;
                }
            }
            if self.now % POLL_INTERVAL_MS == 0 {
                let ids: Vec<i32> = self.nodes.keys().copied().collect();
                for id in ids {
                    if let Some(client) = self.nodes.get_mut(&id).and_then(|n| n.client.as_mut()) {
                        client.poll(self.now);
                        self.apply(id)?;
                    }
                }
            }
            if self.now % SNAPSHOT_INTERVAL_MS == 0 {
                let ids: Vec<i32> = self.nodes.keys().copied().collect();
                for id in ids {
                    self.snapshot_and_clean(id)?;
                }
            }
            self.now += 1;
        }
        self.check_healed()?;
        Ok(self.stats)
    }

    /// After healing: one leader in the newest epoch, and every node holds the leader's log,
    /// all of it committed.
    fn check_healed(&self) -> Result<(), String> {
        let leaders: Vec<&Node> = self
            .nodes
            .values()
            .filter(|n| n.client.as_ref().is_some_and(|c| c.is_leader()))
            .collect();
        let [leader] = leaders.as_slice() else {
            return Err(self.fail(format!("{} leaders after healing", leaders.len())));
        };
        let leader_client = leader.client.as_ref().expect("running");
        for node in self.nodes.values() {
            let client = node.client.as_ref().expect("every node runs after healing");
            if client.epoch() != leader_client.epoch() || client.leader_id() != Some(leader.id) {
                return Err(self.fail(format!(
                    "node {} is {} in epoch {} with leader {:?}, not following {} in epoch {}",
                    node.id,
                    client.state_name(),
                    client.epoch(),
                    client.leader_id(),
                    leader.id,
                    leader_client.epoch()
                )));
            }
            if node.log != leader.log || client.high_watermark() != Some(leader.log.len() as i64) {
                return Err(self.fail(format!(
                    "node {} holds {} records, committed {:?}; leader {} holds {}",
                    node.id,
                    node.log.len(),
                    client.high_watermark(),
                    leader.id,
                    leader.log.len()
                )));
            }
        }
        Ok(())
    }
}

fn config(fault: Option<Fault>) -> QuorumConfig {
    QuorumConfig { fault, ..QuorumConfig::default() }
}

/// How many seeds the sweep runs (`RAFT_SIM_SEEDS` to run more).
fn seeds() -> u64 {
    std::env::var("RAFT_SIM_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60)
}

#[test]
fn the_quorum_keeps_kafkas_raft_invariants_under_faults() {
    let mut total = Stats::default();
    for seed in 0..seeds() {
        let stats = Simulation::new(seed, config(None)).run().unwrap_or_else(|e| panic!("{e}"));
        assert!(stats.elections >= 1, "seed {seed}: no leader was ever elected");
        assert!(stats.committed > 0, "seed {seed}: nothing was committed");
        total.elections += stats.elections;
        total.max_epoch = total.max_epoch.max(stats.max_epoch);
        total.committed += stats.committed;
        total.crashes += stats.crashes;
        total.isolations += stats.isolations;
        total.one_way_cuts += stats.one_way_cuts;
        total.messages += stats.messages;
        total.dropped += stats.dropped;
        total.snapshots_written += stats.snapshots_written;
        total.cleanings += stats.cleanings;
        total.snapshots_fetched += stats.snapshots_fetched;
    }
    eprintln!("raft simulation, {} seeds: {total:?}", seeds());
    assert!(
        total.crashes > 0 && total.isolations > 0 && total.one_way_cuts > 0,
        "every fault kind ran"
    );
    assert!(
        total.cleanings > 0 && total.snapshots_fetched > 0,
        "logs were cleaned below snapshots and nodes behind fetched snapshots"
    );
}

#[test]
fn a_seed_replays_exactly() {
    let trace = |seed| {
        let sim = Simulation::new(seed, config(None));
        let mut sim = sim;
        let end = 3_000;
        while sim.now < end {
            while let Some(Reverse((at, seq))) = sim.queue.peek().copied() {
                if at > sim.now {
                    break;
                }
                sim.queue.pop();
                sim.deliver(seq).unwrap();
            }
            sim.inject_faults();
            if sim.now % POLL_INTERVAL_MS == 0 {
                let ids: Vec<i32> = sim.nodes.keys().copied().collect();
                for id in ids {
                    if let Some(client) = sim.nodes.get_mut(&id).and_then(|n| n.client.as_mut()) {
                        client.poll(sim.now);
                        sim.apply(id).unwrap();
                    }
                }
            }
            sim.now += 1;
        }
        (sim.trace, sim.stats.messages)
    };
    assert_eq!(trace(7), trace(7));
    assert_ne!(trace(7), trace(8));
}

/// The first seed in `0..limit` whose run breaks an invariant, and what broke.
fn first_violation(fault: Fault, limit: u64) -> Option<String> {
    (0..limit).find_map(|seed| Simulation::new(seed, config(Some(fault))).run().err())
}

#[test]
fn committing_without_a_majority_is_caught() {
    let found = first_violation(Fault::HighWatermarkOnLeaderEndOffset, 40)
        .expect("a leader committing alone is caught within 40 seeds");
    assert!(
        found.contains("MajorityReachedHighWatermark") || found.contains("ConsistentCommittedData"),
        "{found}"
    );
}

#[test]
fn voting_twice_in_an_epoch_is_caught() {
    let found =
        first_violation(Fault::VoteTwice, 60).expect("a double vote is caught within 60 seeds");
    assert!(found.contains("voted for") || found.contains("SingleLeader"), "{found}");
}

#[test]
fn serving_the_log_below_its_start_is_caught() {
    let found = first_violation(Fault::ServeLogBelowStart, 40)
        .expect("a leader reading below its log start is caught within 40 seeds");
    assert!(found.contains("SnapshotAtLogStart"), "{found}");
}
