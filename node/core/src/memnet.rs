//! An in-memory network for driving [`crate::sync::SyncEngine`]s deterministically: per-message
//! delay (which reorders), loss, duplication, and partitions, all from a seed. Time is virtual.
//! Used by the node's convergence tests and by the simulator.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::sync::PeerId;

/// How links behave. Probabilities are per mille (0–1000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkConfig {
    pub min_delay: Duration,
    pub max_delay: Duration,
    pub loss_per_mille: u32,
    pub duplicate_per_mille: u32,
}

impl LinkConfig {
    /// A clean LAN: 1 ms, nothing lost.
    pub fn lan() -> Self {
        LinkConfig {
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
            loss_per_mille: 0,
            duplicate_per_mille: 0,
        }
    }

    /// A bad day: 1–30 ms (so messages overtake each other), 10 % lost, 5 % duplicated.
    pub fn hostile() -> Self {
        LinkConfig {
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(30),
            loss_per_mille: 100,
            duplicate_per_mille: 50,
        }
    }
}

/// One message on its way.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct InFlight<P = Vec<u8>> {
    pub deliver_at: Duration,
    seq: u64,
    pub from: PeerId,
    pub to: PeerId,
    pub bytes: P,
}

/// The network: messages of type `P` (bytes by default) between named peers.
#[derive(Debug)]
pub struct MemNet<P = Vec<u8>> {
    rng: StdRng,
    now: Duration,
    seq: u64,
    queue: BinaryHeap<Reverse<InFlight<P>>>,
    pub config: LinkConfig,
    cut: BTreeSet<(PeerId, PeerId)>,
    pub sent: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub bytes_sent: u64,
    /// Messages for which this says yes are lost for good (the simulator's deliberately
    /// broken network: a message class dropped).
    pub drop_if: Option<fn(&P) -> bool>,
}

impl<P: Clone + Ord> MemNet<P> {
    pub fn new(seed: u64, config: LinkConfig) -> Self {
        MemNet {
            rng: StdRng::seed_from_u64(seed),
            now: Duration::ZERO,
            seq: 0,
            queue: BinaryHeap::new(),
            config,
            cut: BTreeSet::new(),
            sent: 0,
            delivered: 0,
            dropped: 0,
            bytes_sent: 0,
            drop_if: None,
        }
    }

    pub fn now(&self) -> Duration {
        self.now
    }

    /// Cuts the link between two peers, both ways; messages on it are lost.
    pub fn partition(&mut self, a: &PeerId, b: &PeerId) {
        self.cut.insert((a.clone(), b.clone()));
        self.cut.insert((b.clone(), a.clone()));
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    pub fn is_cut(&self, a: &PeerId, b: &PeerId) -> bool {
        self.cut.contains(&(a.clone(), b.clone()))
    }

    /// Sends `bytes` (of `size` bytes, for the counters) from one peer to another: lost,
    /// duplicated and delayed as the links behave.
    pub fn send_sized(&mut self, from: &PeerId, to: &PeerId, bytes: P, size: usize) {
        self.sent += 1;
        self.bytes_sent += size as u64;
        if self.is_cut(from, to)
            || self.drop_if.is_some_and(|f| f(&bytes))
            || self.rng.random_range(0..1000) < self.config.loss_per_mille
        {
            self.dropped += 1;
            return;
        }
        let copies = if self.rng.random_range(0..1000) < self.config.duplicate_per_mille {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let span = self.config.max_delay.saturating_sub(self.config.min_delay);
            let jitter = if span.is_zero() {
                Duration::ZERO
            } else {
                Duration::from_micros(
                    self.rng
                        .random_range(0..=u64::try_from(span.as_micros()).unwrap_or(u64::MAX)),
                )
            };
            self.seq += 1;
            self.queue.push(Reverse(InFlight {
                deliver_at: self.now + self.config.min_delay + jitter,
                seq: self.seq,
                from: from.clone(),
                to: to.clone(),
                bytes: bytes.clone(),
            }));
        }
    }

    /// Sends without loss or duplication (a reliable transport's control message), only
    /// delayed, and lost only on a cut link.
    pub fn send_reliable(&mut self, from: &PeerId, to: &PeerId, bytes: P) {
        if self.is_cut(from, to) {
            self.dropped += 1;
            return;
        }
        let delay = self.config.min_delay;
        self.seq += 1;
        self.queue.push(Reverse(InFlight {
            deliver_at: self.now + delay,
            seq: self.seq,
            from: from.clone(),
            to: to.clone(),
            bytes,
        }));
    }

    /// The next message due at or before `until`, advancing the clock to it. Messages on a
    /// link cut after they were sent are lost.
    pub fn next_before(&mut self, until: Duration) -> Option<InFlight<P>> {
        while let Some(Reverse(m)) = self.queue.peek() {
            if m.deliver_at > until {
                break;
            }
            let Reverse(m) = self.queue.pop()?;
            self.now = self.now.max(m.deliver_at);
            if self.is_cut(&m.from, &m.to) {
                self.dropped += 1;
                continue;
            }
            self.delivered += 1;
            return Some(m);
        }
        self.now = self.now.max(until);
        None
    }

    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// When the next message is due, if any is on its way.
    pub fn next_due(&self) -> Option<Duration> {
        self.queue.peek().map(|Reverse(m)| m.deliver_at)
    }

    /// Cuts one direction only: `from` can no longer reach `to`.
    pub fn cut_one_way(&mut self, from: &PeerId, to: &PeerId) {
        self.cut.insert((from.clone(), to.clone()));
    }
}

impl MemNet<Vec<u8>> {
    pub fn send(&mut self, from: &PeerId, to: &PeerId, bytes: Vec<u8>) {
        let n = bytes.len();
        self.send_sized(from, to, bytes, n);
    }
}
