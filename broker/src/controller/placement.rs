//! Replica placement after Kafka's `StripedReplicaPlacer`: replicas go round-robin over the
//! racks (sorted, from a random starting rack that advances by one per partition), and
//! round-robin over the brokers within each rack (sorted, from a random offset), which gives
//! the "striped" layout that spreads leaders evenly. Unfenced brokers are used before fenced
//! ones, and a partition's first replica — its leader — is never fenced. Brokers in controlled
//! shutdown take no new replicas. Two replicas never share a broker.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use rand::seq::SliceRandom;
use rand::Rng;

use crate::error::ApiError;
use crate::metadata::MetadataImage;

/// A broker new replicas may be placed on (Kafka's `UsableBroker`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsableBroker {
    /// Its `node.id`.
    pub id: i32,
    /// Its `broker.rack`.
    pub rack: Option<String>,
    /// Fenced: used only once the unfenced brokers are exhausted, never as leader.
    pub fenced: bool,
}

/// The registered brokers not in controlled shutdown, in id order, as Kafka's
/// `ClusterControlManager.usableBrokers`.
pub fn usable_brokers(image: &MetadataImage) -> Vec<UsableBroker> {
    image
        .brokers()
        .values()
        .filter(|b| !b.in_controlled_shutdown)
        .map(|b| UsableBroker {
            id: b.registration.broker_id,
            rack: b.registration.rack.clone(),
            fenced: b.fenced,
        })
        .collect()
}

/// A sorted list of brokers iterated from a random offset; the offset moves by one each
/// iteration epoch (each partition), so successive partitions start on different brokers.
#[derive(Debug, Default)]
struct BrokerList {
    brokers: Vec<i32>,
    /// Brokers handed out in the current epoch.
    index: usize,
    offset: usize,
    epoch: usize,
}

impl BrokerList {
    fn initialize(&mut self, rng: &mut impl Rng) {
        if !self.brokers.is_empty() {
            self.brokers.sort_unstable();
            self.offset = rng.gen_range(0..self.brokers.len());
        }
    }

    /// The next broker of `epoch`, or `None` once every broker was handed out in it.
    fn next(&mut self, epoch: usize) -> Option<i32> {
        if self.brokers.is_empty() {
            return None;
        }
        if self.epoch != epoch {
            self.epoch = epoch;
            self.index = 0;
            self.offset = (self.offset + 1) % self.brokers.len();
        }
        if self.index >= self.brokers.len() {
            return None;
        }
        let broker = self.brokers[(self.index + self.offset) % self.brokers.len()];
        self.index += 1;
        Some(broker)
    }
}

#[derive(Debug, Default)]
struct Rack {
    fenced: BrokerList,
    unfenced: BrokerList,
}

impl Rack {
    fn next(&mut self, epoch: usize) -> Option<i32> {
        self.unfenced.next(epoch).or_else(|| self.fenced.next(epoch))
    }
}

/// The racks, iterated round-robin from a random starting rack (Kafka's `RackList`).
struct RackList<'r, R: Rng> {
    rng: &'r mut R,
    racks: BTreeMap<Option<String>, Rack>,
    /// Rack names in iteration order: sorted (no rack first) until a reshuffle.
    names: Vec<Option<String>>,
    total: usize,
    unfenced: usize,
    epoch: usize,
    offset: usize,
}

impl<'r, R: Rng> RackList<'r, R> {
    fn new(rng: &'r mut R, brokers: &[UsableBroker]) -> Self {
        let mut racks: BTreeMap<Option<String>, Rack> = BTreeMap::new();
        for broker in brokers {
            let rack = racks.entry(broker.rack.clone()).or_default();
            let list = if broker.fenced { &mut rack.fenced } else { &mut rack.unfenced };
            list.brokers.push(broker.id);
        }
        for rack in racks.values_mut() {
            rack.fenced.initialize(rng);
            rack.unfenced.initialize(rng);
        }
        // BTreeMap order is Kafka's: the absent rack first, then names in order.
        let names: Vec<Option<String>> = racks.keys().cloned().collect();
        let offset = if names.is_empty() { 0 } else { rng.gen_range(0..names.len()) };
        let unfenced = brokers.iter().filter(|b| !b.fenced).count();
        Self { rng, racks, names, total: brokers.len(), unfenced, epoch: 0, offset }
    }

    fn place(&mut self, replication_factor: usize) -> Vec<i32> {
        debug_assert!(replication_factor >= 1 && replication_factor <= self.total);
        debug_assert!(self.unfenced > 0, "a leader needs an unfenced broker");
        // Once as many partitions as there are unfenced brokers are placed, shuffle to avoid
        // repeating the same assignments (never for a single unfenced broker: it would loop).
        if self.epoch == self.unfenced && self.unfenced > 1 {
            self.names.shuffle(self.rng);
            for rack in self.racks.values_mut() {
                rack.fenced.brokers.shuffle(self.rng);
                rack.unfenced.brokers.shuffle(self.rng);
            }
            self.epoch = 0;
        }
        if self.offset == self.names.len() {
            self.offset = 0;
        }
        let mut replicas = Vec::with_capacity(replication_factor);
        // The leader: the first unfenced broker from the starting rack on.
        let mut first_rack = Some(self.offset);
        loop {
            let index = first_rack.expect("set");
            let rack = self.racks.get_mut(&self.names[index]).expect("named rack");
            if let Some(broker) = rack.unfenced.next(self.epoch) {
                replicas.push(broker);
                break;
            }
            first_rack = Some((index + 1) % self.names.len());
        }
        let mut rack_index = self.offset;
        for _ in 1..replication_factor {
            let broker = loop {
                let mut found = None;
                if Some(rack_index) == first_rack {
                    // The leader's rack took its turn already.
                    first_rack = None;
                } else {
                    let rack = self.racks.get_mut(&self.names[rack_index]).expect("named rack");
                    found = rack.next(self.epoch);
                }
                rack_index = (rack_index + 1) % self.names.len();
                if let Some(broker) = found {
                    break broker;
                }
            };
            replicas.push(broker);
        }
        self.epoch += 1;
        self.offset += 1;
        debug_assert!(
            {
                let mut sorted = replicas.clone();
                sorted.sort_unstable();
                sorted.windows(2).all(|w| w[0] != w[1])
            },
            "two replicas on one broker: {replicas:?}"
        );
        replicas
    }
}

/// The replicas of `partitions` new partitions with `replication_factor` replicas each, over
/// `brokers`, with Kafka's INVALID_REPLICATION_FACTOR messages ("Unable to replicate the
/// partition N time(s): …") when it cannot be done.
pub fn place(
    rng: &mut impl Rng,
    brokers: &[UsableBroker],
    partitions: i32,
    replication_factor: i32,
) -> Result<Vec<Vec<i32>>, ApiError> {
    let refuse = |why: String| {
        Err(ApiError::new(
            ResponseError::InvalidReplicationFactor,
            format!("Unable to replicate the partition {replication_factor} time(s): {why}"),
        ))
    };
    if replication_factor <= 0 {
        return refuse(format!(
            "Invalid replication factor {replication_factor}: the replication factor must be \
             positive."
        ));
    }
    if !brokers.iter().any(|b| !b.fenced) {
        return refuse("All brokers are currently fenced.".into());
    }
    if replication_factor as usize > brokers.len() {
        return refuse(format!(
            "The target replication factor of {replication_factor} cannot be reached because \
             only {} broker(s) are registered.",
            brokers.len()
        ));
    }
    let mut racks = RackList::new(rng, brokers);
    Ok((0..partitions.max(0)).map(|_| racks.place(replication_factor as usize)).collect())
}

/// Manual replica assignments (CreateTopics' `assignments`), partition index → replicas,
/// checked as Kafka's `validateManualPartitionAssignment` and `createTopic` check them
/// (INVALID_REPLICA_ASSIGNMENT): a partition given twice, an empty list, a broker twice or not
/// registered, replica counts that differ, partitions that are not 0, 1, 2, …, a partition
/// whose brokers are all fenced or shutting down. The replicas in partition order.
pub fn manual(
    image: &MetadataImage,
    assignments: &[(i32, Vec<i32>)],
) -> Result<Vec<Vec<i32>>, ApiError> {
    let invalid =
        |message: String| Err(ApiError::new(ResponseError::InvalidReplicaAssignment, message));
    let mut by_partition: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    let mut replication_factor = None;
    for (partition, replicas) in assignments {
        if by_partition.contains_key(partition) {
            return invalid(format!(
                "Found multiple manual partition assignments for partition {partition}"
            ));
        }
        if replicas.is_empty() {
            return invalid(
                "The manual partition assignment includes an empty replica list.".into(),
            );
        }
        let mut seen = Vec::new();
        for broker in replicas {
            if seen.contains(broker) {
                return invalid(format!(
                    "The manual partition assignment includes the broker {broker} more than once."
                ));
            }
            seen.push(*broker);
            if !image.brokers().contains_key(broker) {
                return invalid(format!(
                    "The manual partition assignment includes broker {broker}, but no such \
                     broker is registered."
                ));
            }
        }
        match replication_factor {
            Some(expected) if expected != replicas.len() => {
                return invalid(format!(
                    "The manual partition assignment includes a partition with {} replica(s), \
                     but this is not consistent with previous partitions, which have {expected} \
                     replica(s).",
                    replicas.len()
                ));
            }
            _ => replication_factor = Some(replicas.len()),
        }
        if !replicas.iter().any(|r| super::is_active(image, *r)) {
            return invalid(format!(
                "All brokers specified in the manual partition assignment for partition \
                 {partition} are fenced or in controlled shutdown."
            ));
        }
        by_partition.insert(*partition, replicas.clone());
    }
    if by_partition.keys().copied().ne(0..by_partition.len() as i32) {
        return invalid("partitions should be a consecutive 0-based integer sequence".into());
    }
    Ok(by_partition.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn broker(id: i32, rack: Option<&str>) -> UsableBroker {
        UsableBroker { id, rack: rack.map(str::to_owned), fenced: false }
    }

    fn distinct(replicas: &[i32]) -> bool {
        let mut sorted = replicas.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        sorted.len() == replicas.len()
    }

    /// Three brokers, RF 3: every partition on all three, and the leaders (first replicas)
    /// striped so that each broker leads the same number of partitions.
    #[test]
    fn leaders_are_spread_evenly_over_three_brokers() {
        for seed in 0..20 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let brokers = [broker(1, None), broker(2, None), broker(3, None)];
            let placed = place(&mut rng, &brokers, 6, 3).unwrap();
            let mut leaders = BTreeMap::<i32, usize>::new();
            for replicas in &placed {
                assert!(distinct(replicas), "{placed:?}");
                assert_eq!(replicas.len(), 3);
                *leaders.entry(replicas[0]).or_default() += 1;
            }
            assert_eq!(leaders, BTreeMap::from([(1, 2), (2, 2), (3, 2)]), "seed {seed}");
        }
    }

    /// Racks alternate within a partition: with two racks of two brokers, RF 2 puts one replica
    /// in each rack; the leader's rack alternates from partition to partition, and each broker
    /// holds as many replicas as the others.
    #[test]
    fn replicas_alternate_between_racks() {
        let brokers = [
            broker(1, Some("a")),
            broker(2, Some("a")),
            broker(3, Some("b")),
            broker(4, Some("b")),
        ];
        let rack = |id: i32| brokers.iter().find(|b| b.id == id).unwrap().rack.clone();
        for seed in 0..20 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let placed = place(&mut rng, &brokers, 4, 2).unwrap();
            for replicas in &placed {
                assert_ne!(rack(replicas[0]), rack(replicas[1]), "seed {seed}: {placed:?}");
            }
            for pair in placed.windows(2) {
                assert_ne!(rack(pair[0][0]), rack(pair[1][0]), "seed {seed}: {placed:?}");
            }
            let mut held = BTreeMap::<i32, usize>::new();
            placed.iter().flatten().for_each(|b| *held.entry(*b).or_default() += 1);
            assert_eq!(held, BTreeMap::from([(1, 2), (2, 2), (3, 2), (4, 2)]), "seed {seed}");
        }
    }

    /// Fenced brokers only fill replicas the unfenced cannot, and never lead.
    #[test]
    fn fenced_brokers_never_lead_and_come_last() {
        let mut fenced = broker(3, None);
        fenced.fenced = true;
        let brokers = [broker(1, None), broker(2, None), fenced];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for replicas in place(&mut rng, &brokers, 10, 2).unwrap() {
            assert!(!replicas.contains(&3), "{replicas:?}");
        }
        for replicas in place(&mut rng, &brokers, 10, 3).unwrap() {
            assert!(distinct(&replicas) && replicas[0] != 3, "{replicas:?}");
        }
    }

    #[test]
    fn not_enough_brokers_is_refused_with_kafkas_message() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let brokers = [broker(1, None), broker(2, None)];
        let err = place(&mut rng, &brokers, 1, 3).unwrap_err();
        assert_eq!(err.error, ResponseError::InvalidReplicationFactor);
        assert_eq!(
            err.message,
            "Unable to replicate the partition 3 time(s): The target replication factor of 3 \
             cannot be reached because only 2 broker(s) are registered."
        );
        let mut all_fenced = broker(1, None);
        all_fenced.fenced = true;
        let err = place(&mut rng, &[all_fenced], 1, 1).unwrap_err();
        assert!(err.message.ends_with("All brokers are currently fenced."), "{}", err.message);
        let single = place(&mut rng, &[broker(7, None)], 3, 1).unwrap();
        assert_eq!(single, [[7], [7], [7]], "a single node places everything on itself");
    }

    /// Manual assignments as Kafka checks them; the replicas come back in partition order.
    #[test]
    fn manual_assignments_are_checked() {
        let image = crate::controller::test_support::cluster(&[]);
        let ok = manual(&image, &[(1, vec![3, 1]), (0, vec![2, 3])]).unwrap();
        assert_eq!(ok, [vec![2, 3], vec![3, 1]]);
        type Assignments<'a> = &'a [(i32, Vec<i32>)];
        let cases: [(Assignments, &str); 6] = [
            (
                &[(0, vec![1]), (0, vec![2])],
                "multiple manual partition assignments for partition 0",
            ),
            (&[(0, vec![])], "empty replica list"),
            (&[(0, vec![1, 1])], "the broker 1 more than once"),
            (&[(0, vec![1, 9])], "broker 9, but no such broker is registered"),
            (&[(0, vec![1]), (1, vec![1, 2])], "with 2 replica(s), but this is not consistent"),
            (&[(0, vec![1]), (2, vec![2])], "consecutive 0-based"),
        ];
        for (assignments, expected) in cases {
            let err = manual(&image, assignments).unwrap_err();
            assert_eq!(err.error, ResponseError::InvalidReplicaAssignment);
            assert!(err.message.contains(expected), "{assignments:?}: {}", err.message);
        }
    }
}
