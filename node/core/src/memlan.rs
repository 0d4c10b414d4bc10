//! A whole store LAN in memory: [`LaneCore`]s over a seeded [`MemNet`] with virtual time. It
//! executes the cores' outputs as the iroh driver does on a real network — frames, dials,
//! closes, gossip announcements — so tests and the simulator drive the production policy
//! (admission, dialing, duplicate connections, announcements, stall restarts) without a
//! socket, a thread or a clock.
//!
//! Modelled: per-message delay, loss and duplication of frames and announcements (the link
//! configuration), cut links (both ways or one way), lanes stopped and started again.
//! Connections are reliable streams: their set-up and close are delayed, never lost, except
//! on a cut link (where a dial fails).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use std::ops::Deref;

use automerge::ChangeHash;
use automerge::sync::State;

use crate::Till;
use crate::lane::{ConnId, Input, LaneConfig, LaneCore, LaneEvent, LaneStore, Output, StorePolicy};
use crate::members::Member;
use crate::memnet::{LinkConfig, MemNet};
use crate::sync::{DocAccess, PeerId};
use crate::wire::{Digest, DocName};

/// What travels between lanes in memory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Packet {
    Frame(Vec<u8>),
    Announce(Vec<u8>),
    /// A dialed connection reaches the other side. `incarnation`: the dialer's when it dialed.
    Connect {
        conn: ConnId,
        dialer: PeerId,
        incarnation: u32,
    },
    /// The other side accepted the connection: the dialer sees it up. `incarnation`: the
    /// acceptor's when it accepted.
    Accepted {
        conn: ConnId,
        incarnation: u32,
    },
    /// A connection closed by the sender.
    Closed {
        conn: ConnId,
    },
    /// Nobody answered the dial.
    Unreachable,
}

/// One lane of the in-memory LAN.
#[derive(Debug)]
pub struct MemLane<S> {
    pub id: PeerId,
    pub store: S,
    pub core: LaneCore,
    /// Off the network (stopped or crashed): packets to it are lost.
    pub up: bool,
    /// Everything its core reported, oldest first.
    pub events: Vec<LaneEvent>,
    /// The address it "listens" on (never used for real traffic).
    pub addr: SocketAddr,
    /// When what peers sent and the store keeps in memory is stored
    /// ([`LaneStore::has_received`]), paced as the iroh driver paces it.
    store_at: Option<Duration>,
    policy: StorePolicy,
    /// Batches of received changes stored so far.
    pub stores: u64,
    /// How many times it stopped: a handshake it began before a stop dies with it.
    incarnation: u32,
}

/// The LAN: lanes, the network between them and the virtual clock.
#[derive(Debug)]
pub struct MemLan<S> {
    pub lanes: Vec<MemLane<S>>,
    pub net: MemNet<Packet>,
    next_conn: ConnId,
}

impl<S: LaneStore> MemLan<S>
where
    S::Error: std::fmt::Display,
{
    pub fn new(seed: u64, link: LinkConfig) -> MemLan<S> {
        MemLan {
            lanes: Vec::new(),
            net: MemNet::new(seed, link),
            next_conn: 1,
        }
    }

    pub fn now(&self) -> Duration {
        self.net.now()
    }

    /// Where lane `i` listens (a loopback address of its own).
    pub fn addr_of(i: usize) -> SocketAddr {
        let n = u8::try_from(i % 250).unwrap_or(0) + 1;
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 1, n)), 7000)
    }

    /// Adds a lane and starts it. Returns its index.
    pub fn add(&mut self, store: S, config: LaneConfig) -> usize {
        let i = self.lanes.len();
        self.lanes.push(MemLane {
            id: config.me.clone(),
            store,
            core: LaneCore::new(config),
            up: false,
            events: Vec::new(),
            addr: Self::addr_of(i),
            store_at: None,
            policy: StorePolicy::default(),
            stores: 0,
            incarnation: 0,
        });
        self.start(i);
        i
    }

    /// Starts a stopped lane again with a new core (its store is what survived).
    pub fn restart(&mut self, i: usize, store: S, config: LaneConfig) {
        self.lanes[i].store = store;
        self.lanes[i].core = LaneCore::new(config);
        self.lanes[i].store_at = None;
        self.lanes[i].policy = StorePolicy::default();
        self.start(i);
    }

    fn start(&mut self, i: usize) {
        self.lanes[i].up = true;
        let addrs = vec![self.lanes[i].addr];
        self.input(i, Input::Started { addrs });
    }

    /// Takes lane `i` off the network, as a crash or a shutdown would: its peers see its
    /// connections go down.
    pub fn stop(&mut self, i: usize) {
        self.lanes[i].up = false;
        self.lanes[i].incarnation += 1;
        // What it held in memory and had not stored is lost with it.
        self.lanes[i].store_at = None;
        let me = self.lanes[i].id.clone();
        let peers: Vec<usize> = (0..self.lanes.len())
            .filter(|j| *j != i && self.lanes[*j].core.is_connected(&me))
            .collect();
        for j in peers {
            // The peer notices the connection is gone (its id is whatever it kept).
            let conn = self.lanes[j].core.conn_with(&me);
            if let Some(conn) = conn {
                self.input(
                    j,
                    Input::Disconnected {
                        peer: me.clone(),
                        conn,
                    },
                );
            }
        }
    }

    /// Offers what lane `i`'s own till changed since the last call to its peers.
    pub fn local_change(&mut self, i: usize) {
        let docs = self.lanes[i].store.take_changed();
        if !docs.is_empty() {
            self.input(i, Input::LocalChange { docs });
        }
    }

    /// Handles one input on lane `i` and executes the outputs.
    pub fn input(&mut self, i: usize, input: Input) {
        let now = self.net.now();
        let lane = &mut self.lanes[i];
        let out = lane.core.handle(input, now, &mut lane.store);
        if lane.store_at.is_none() && lane.store.has_received() {
            lane.store_at = Some(lane.policy.due().max(now));
        }
        self.dispatch(i, out);
    }

    /// Stores what lane `i` received and keeps in memory, now, and tells its core (what the
    /// driver does when [`StorePolicy`] says so; call it before the lane's own till writes).
    pub fn store_received(&mut self, i: usize) {
        let lane = &mut self.lanes[i];
        lane.store_at = None;
        // A stopped lane's memory is lost with it (its store is replaced on restart).
        if !lane.up || !lane.store.has_received() {
            return;
        }
        let now = self.net.now();
        lane.stores += 1;
        let stored = match lane.store.store_received() {
            Ok(records) => {
                lane.policy.stored(now, records);
                Ok(lane.store.take_changed())
            }
            Err(e) => {
                lane.policy.stored(now, 0);
                Err(e.to_string())
            }
        };
        self.input(i, Input::Stored(stored));
    }

    /// The next deadline of lane `i`: its core's timer or its store's.
    fn deadline(lane: &MemLane<S>) -> Option<Duration> {
        match (lane.core.next_deadline(), lane.store_at) {
            (Some(t), Some(s)) => Some(t.min(s)),
            (t, s) => t.or(s),
        }
    }

    fn index_of(&self, peer: &PeerId) -> Option<usize> {
        self.lanes.iter().position(|l| &l.id == peer)
    }

    fn dispatch(&mut self, i: usize, outputs: Vec<Output>) {
        let me = self.lanes[i].id.clone();
        for o in outputs {
            match o {
                Output::Send { peer, frame } => {
                    let n = frame.len();
                    self.net.send_sized(&me, &peer, Packet::Frame(frame), n);
                }
                Output::Dial { peer, .. } => {
                    let conn = self.next_conn;
                    self.next_conn += 1;
                    let reachable = self
                        .index_of(&peer)
                        .is_some_and(|j| self.lanes[j].up && !self.net.is_cut(&me, &peer));
                    if reachable {
                        self.net.send_reliable(
                            &me,
                            &peer,
                            Packet::Connect {
                                conn,
                                dialer: me.clone(),
                                incarnation: self.lanes[i].incarnation,
                            },
                        );
                    } else {
                        // The dialer gives up after a while.
                        self.net.send_reliable(&peer, &me, Packet::Unreachable);
                    }
                }
                Output::Close { peer, conn, .. } => {
                    self.net.send_reliable(&me, &peer, Packet::Closed { conn });
                }
                Output::Announce(bytes) => {
                    let others: Vec<PeerId> = self
                        .lanes
                        .iter()
                        .filter(|l| l.id != me && l.up)
                        .map(|l| l.id.clone())
                        .collect();
                    for to in others {
                        let n = bytes.len();
                        self.net
                            .send_sized(&me, &to, Packet::Announce(bytes.clone()), n);
                    }
                }
                Output::JoinGossip(_) | Output::Admitted(_) => {}
                Output::Event(e) => self.lanes[i].events.push(e),
            }
        }
    }

    fn deliver(&mut self, from: PeerId, to: PeerId, packet: Packet) {
        let Some(j) = self.index_of(&to) else {
            return;
        };
        if !self.lanes[j].up {
            return;
        }
        // A connection's handshake needs both ends alive (QUIC's does): one whose sender
        // stopped since it sent this never completes. Delivered, it would leave the receiver
        // holding a connection the sender's next life knows nothing of, and refusing that
        // life's dials as duplicates for good (kasir-sim seed 1789 at 2 × 3 × 1.5k).
        if let Packet::Connect { incarnation, .. } | Packet::Accepted { incarnation, .. } = &packet
            && self
                .index_of(&from)
                .is_some_and(|k| !self.lanes[k].up || self.lanes[k].incarnation != *incarnation)
        {
            return;
        }
        match packet {
            Packet::Frame(bytes) => self.input(j, Input::Frame { peer: from, bytes }),
            Packet::Announce(bytes) => self.input(j, Input::Announcement { via: from, bytes }),
            Packet::Connect { conn, dialer, .. } => {
                let remote = self.index_of(&from).map(|k| self.lanes[k].addr);
                let incarnation = self.lanes[j].incarnation;
                self.net
                    .send_reliable(&to, &from, Packet::Accepted { conn, incarnation });
                self.input(
                    j,
                    Input::Connected {
                        peer: from,
                        conn,
                        dialer,
                        remote,
                    },
                );
            }
            Packet::Accepted { conn, .. } => {
                let remote = self.index_of(&from).map(|k| self.lanes[k].addr);
                let dialer = to.clone();
                self.input(
                    j,
                    Input::Connected {
                        peer: from,
                        conn,
                        dialer,
                        remote,
                    },
                );
            }
            Packet::Closed { conn } => self.input(j, Input::Disconnected { peer: from, conn }),
            Packet::Unreachable => self.input(
                j,
                Input::DialFailed {
                    peer: from,
                    reason: "unreachable".into(),
                },
            ),
        }
    }

    /// When the next packet or timer is due, if any.
    pub fn next_event(&self) -> Option<Duration> {
        let timer = self
            .lanes
            .iter()
            .filter(|l| l.up)
            .filter_map(Self::deadline)
            .min();
        match (timer, self.net.next_due()) {
            (Some(t), Some(p)) => Some(t.min(p)),
            (t, p) => t.or(p),
        }
    }

    /// Handles the one packet or timer due first, if it is due at or before `until` (the clock
    /// moves to it). Returns whether there was one.
    pub fn step_until(&mut self, until: Duration) -> bool {
        let timer = self
            .lanes
            .iter()
            .enumerate()
            .filter(|(_, l)| l.up)
            .filter_map(|(i, l)| Self::deadline(l).map(|t| (t, i)))
            .min();
        let packet = self.net.next_due();
        match (timer, packet) {
            (Some((t, i)), p) if t <= until && p.is_none_or(|p| t < p) => {
                // Move the clock to the timer without delivering anything.
                let _ = self.net.next_before(t.max(self.net.now()));
                if self.lanes[i].store_at.is_some_and(|s| s <= t) {
                    self.store_received(i);
                } else {
                    self.input(i, Input::Tick);
                }
                true
            }
            (_, Some(p)) if p <= until => {
                if let Some(m) = self.net.next_before(p) {
                    self.deliver(m.from, m.to, m.bytes);
                }
                true
            }
            _ => false,
        }
    }

    /// Runs the LAN until `until` (virtual time): packets and timers in time order.
    pub fn run_until(&mut self, until: Duration) {
        while self.step_until(until) {}
        let _ = self.net.next_before(until);
    }

    pub fn run_for(&mut self, span: Duration) {
        let until = self.net.now() + span;
        self.run_until(until);
    }

    /// Documents not yet converged, summed over every lane and peer.
    pub fn pending(&self) -> usize {
        self.lanes
            .iter()
            .filter(|l| l.up)
            .map(|l| {
                l.core
                    .engine()
                    .peers()
                    .map(|p| l.core.engine().pending_with(p))
                    .sum::<usize>()
            })
            .sum()
    }

    /// Runs until nothing is pending and no frame is on its way, or `limit` passes. Returns
    /// whether it settled.
    pub fn settle(&mut self, limit: Duration) -> bool {
        let end = self.net.now() + limit;
        while self.net.now() < end {
            self.run_for(Duration::from_millis(100));
            let stored = self.lanes.iter().all(|l| l.store_at.is_none());
            if self.pending() == 0 && self.net.in_flight() == 0 && stored {
                return true;
            }
        }
        false
    }
}

/// A lane's till on the in-memory LAN as the node runs it: what peers send is applied in
/// memory and stored in batches, paced by [`StorePolicy`], as the node's replicator does
/// ([`crate::Replica`] over the iroh driver). A simulation so drives the production path of a
/// merge (`Till::receive_sync_later`, then `Till::store_received`), changes lost in memory by
/// a crash included ([`MemLan::stop`]: a stopped lane never stores what it held).
///
/// The node keeps the replicator's handle apart from the till's; here one handle does both.
/// It hands the till out for reading ([`std::ops::Deref`]); a write goes through
/// [`LaneTill::till_mut`] after [`MemLan::store_received`], so a till's own change never
/// carries unstored merges with it.
#[derive(Debug)]
pub struct LaneTill(Till);

impl LaneTill {
    pub fn new(till: Till) -> LaneTill {
        LaneTill(till)
    }

    /// The till itself, for a write or a read that takes it mutably. The caller must have
    /// stored what waits ([`MemLan::store_received`]).
    pub fn till_mut(&mut self) -> &mut Till {
        debug_assert!(!self.0.has_received(), "a write over unstored merges");
        &mut self.0
    }
}

impl Deref for LaneTill {
    type Target = Till;
    fn deref(&self) -> &Till {
        &self.0
    }
}

impl DocAccess for LaneTill {
    type Error = crate::NodeError;

    fn manifest(&mut self) -> crate::Result<Vec<(DocName, Digest)>> {
        // The manifest is read from the files: store what is only in memory first (as the
        // node's replica does).
        self.0.store_received()?;
        DocAccess::manifest(&mut self.0)
    }

    fn heads(&mut self, doc: &DocName) -> crate::Result<Vec<ChangeHash>> {
        DocAccess::heads(&mut self.0, doc)
    }

    fn generate(&mut self, doc: &DocName, state: &mut State) -> crate::Result<Option<Vec<u8>>> {
        DocAccess::generate(&mut self.0, doc, state)
    }

    fn receive(&mut self, doc: &DocName, state: &mut State, message: &[u8]) -> crate::Result<bool> {
        self.0.receive_sync_later(doc.as_str(), state, message)
    }
}

impl LaneStore for LaneTill {
    fn members(&mut self) -> crate::Result<Vec<Member>> {
        LaneStore::members(&mut self.0)
    }

    fn take_changed(&mut self) -> Vec<DocName> {
        LaneStore::take_changed(&mut self.0)
    }

    fn has_received(&self) -> bool {
        self.0.has_received()
    }

    fn store_received(&mut self) -> crate::Result<usize> {
        self.0.store_received().map(|o| o.records())
    }
}
