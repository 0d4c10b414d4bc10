//! The lane core: one lane's policy on the store LAN as a sans-IO state machine, in the style
//! of iroh-gossip's `proto` and quinn-proto.
//!
//! Inputs ([`Input`]) are what happened (a connection up or down, bytes from a peer, a gossip
//! announcement, documents this lane's till changed, an address found, a dial that failed, a
//! timer) together with `now`, the driver's monotonic time. Outputs ([`Output`]) are what to
//! do (send a frame, dial, close a connection, broadcast an announcement, ask gossip to join
//! peers, the set of admitted members for the accept handlers, events for screens and logs).
//! [`LaneCore::next_deadline`] is the timer to set. Nothing here opens a socket, reads a clock,
//! spawns or sleeps; the iroh driver (`kasir_node::lan`) and the simulator only execute
//! outputs, so every rule below can be driven with virtual time:
//!
//! - **Admission**: the store's active members are the `members` document's active records
//!   plus the configuration's static members (this lane excluded). A connection from anyone
//!   else is closed; a member removed from the document is closed out at once. Recomputed
//!   whenever the `members` document changes, here or through a merge.
//! - **Duplicate connections**: either side may dial; when both do at once, both keep the
//!   connection dialed by the lower node id.
//! - **Dialing**: static peers at start; every status tick, each admitted member with a known
//!   address that is not connected, at most once per [`REDIAL_AFTER`] unless the last dial
//!   failed; a member heard of in an announcement or by discovery is dialed at once.
//! - **Announcements**: every [`LaneConfig::status_every`], this lane's addresses, a sequence
//!   number and the heads digests of the documents it changed last ([`Announce`]), over gossip
//!   and straight to every connected peer (the leader's lease must not depend on the gossip
//!   tree); every
//!   tenth tick it also asks gossip to join the members it knows an address for, so a lane
//!   left without gossip neighbours rejoins.
//! - **Replication**: the [`SyncEngine`] with its stall restarts; what a merge changed is
//!   offered on to the other peers.
//! - **Status**: per peer, every tick ([`LaneEvent::Peers`]).
//! - **Store leader** (the lane that forwards the store's records to HQ): among the lanes that
//!   can reach HQ with the store's credential ([`Input::Hq`], and the `hq` flag of their
//!   announcements) and were heard from within the lease ([`LEASE_TICKS`] status periods, 3 s
//!   by default), the one with the lowest lane number (then the lowest node id). Every lane
//!   computes it from what it hears, so lanes that hear the same agree; a leader that stops
//!   announcing (killed, cut off) is replaced when its lease runs out, one that loses HQ at
//!   its next announcement. A lane claims the lead only after a lease of its own since it
//!   started and since it reached HQ, so that it hears a lower lane before it would take over. Two leaders (a partition: each
//!   side elects its own) are harmless: HQ stores every record once by its id, and HQ's
//!   changes are applied once by theirs (I2, I3). [`LaneEvent::Leader`] reports each change.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::members::Member;
use crate::sync::{DocAccess, Output as SyncOutput, PeerId, SyncEngine, SyncEvent};
use crate::wire::{ANNOUNCE_DOCS, Announce, DocName, WireMessage};

/// A dial that has not connected is not repeated for this long (unless it failed).
pub const REDIAL_AFTER: Duration = Duration::from_secs(10);
/// Every this many status ticks, gossip is asked to join the known members again.
pub const REJOIN_EVERY: u64 = 10;

/// A lane not heard from (its own announcement) for this many status periods has lost its
/// lease: it is no longer a candidate for leader.
pub const LEASE_TICKS: u32 = 3;

/// A connection, numbered by the driver.
pub type ConnId = u64;

/// What the lane core needs from the lane's documents besides replication.
pub trait LaneStore: DocAccess {
    /// Every lane the `members` document records.
    fn members(&mut self) -> Result<Vec<Member>, Self::Error>;
    /// Documents this store changed since the last call (what merges brought in).
    fn take_changed(&mut self) -> Vec<DocName>;
    /// Whether changes [`DocAccess::receive`] applied in memory wait to be stored (a store
    /// that writes them at once never has any).
    fn has_received(&self) -> bool {
        false
    }
    /// Stores them, with their projections. Returns how many records they brought (what
    /// [`StorePolicy`] paces the next batch by). The driver then reports
    /// [`Input::Stored`].
    fn store_received(&mut self) -> Result<usize, Self::Error> {
        Ok(0)
    }
}

/// When a lane stores what its peers sent and it keeps in memory
/// ([`LaneStore::store_received`]): the one policy the iroh driver and the in-memory LAN both
/// run. On a quiet LAN (the last batch held at most [`StorePolicy::QUIET_BATCH`] records),
/// [`StorePolicy::QUIET`] after the last store (at once, usually): one sale at a time reaches
/// the other lanes' views within milliseconds. Under a stream (a bigger batch: a bootstrap,
/// several lanes' sales arriving together), at most once per [`StorePolicy::EVERY`]: the
/// merges are stored many records per transaction, which shares table and index pages between
/// them (what replication costs the disk the till's sales are made durable on, and the CPU),
/// while a manager still sees them at once.
///
/// Telling a stream by time as well (two stores less than `EVERY` apart) was tried on
/// 2026-11-30 and dropped: `lan_bench`'s one-sale-at-a-time latency went from p99 ≈ 6 ms to
/// 48 ms (target ≤ 20 ms), and `pay` under three busy peers did not get better.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorePolicy {
    last_store: Option<Duration>,
    last_batch: usize,
}

impl StorePolicy {
    pub const QUIET: Duration = Duration::from_millis(5);
    pub const EVERY: Duration = Duration::from_millis(50);
    pub const QUIET_BATCH: usize = 3;

    /// Whether what arrives comes as a stream (see [`StorePolicy`]).
    pub fn streaming(&self) -> bool {
        self.last_batch > Self::QUIET_BATCH
    }

    /// When what waits is to be stored (the driver's monotonic time; `now` or earlier: at
    /// once).
    pub fn due(&self) -> Duration {
        let gap = if self.streaming() {
            Self::EVERY
        } else {
            Self::QUIET
        };
        self.last_store.map_or(Duration::ZERO, |t| t + gap)
    }

    /// A batch of `records` was stored at `now`.
    pub fn stored(&mut self, now: Duration, records: usize) {
        self.last_store = Some(now);
        self.last_batch = records;
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneConfig {
    /// This lane's node id (hex).
    pub me: PeerId,
    /// Lanes admitted besides the `members` document (a static list from configuration).
    pub static_members: BTreeSet<PeerId>,
    /// Lanes to dial at start, with their addresses. They are admitted too.
    pub static_peers: Vec<(PeerId, Vec<SocketAddr>)>,
    /// How often peer status is reported, heads announced and lost peers redialed.
    pub status_every: Duration,
}

impl LaneConfig {
    pub fn new(me: PeerId) -> LaneConfig {
        LaneConfig {
            me,
            static_members: BTreeSet::new(),
            static_peers: Vec::new(),
            status_every: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The driver's endpoint is up and listens on these addresses.
    Started {
        addrs: Vec<SocketAddr>,
    },
    /// A connection with `peer` is up, dialed by `dialer` (this lane or the peer), from
    /// `remote` when known.
    Connected {
        peer: PeerId,
        conn: ConnId,
        dialer: PeerId,
        remote: Option<SocketAddr>,
    },
    Disconnected {
        peer: PeerId,
        conn: ConnId,
    },
    /// One frame from a connected peer.
    Frame {
        peer: PeerId,
        bytes: Vec<u8>,
    },
    /// A gossip message, delivered by `via` (not necessarily its author).
    Announcement {
        via: PeerId,
        bytes: Vec<u8>,
    },
    /// A lane found by discovery (mDNS) at these addresses.
    Discovered {
        peer: PeerId,
        addrs: Vec<SocketAddr>,
    },
    DialFailed {
        peer: PeerId,
        reason: String,
    },
    /// Documents this lane's own till committed changes to.
    LocalChange {
        docs: Vec<DocName>,
    },
    /// Something the driver refused on its own (an oversized frame, a stream error).
    Refused(String),
    /// The store wrote what it had received and kept in memory (`Replica::store_received`):
    /// these documents changed (offered to the peers like local changes); or it could not and
    /// forgot it (why), so every sync session starts over and the peers send it again.
    Stored(Result<Vec<DocName>, String>),
    /// Whether this lane can reach HQ with the store's credential now (the HQ driver's last
    /// contact succeeded; `false` with no credential, HQ unreachable or refusing it).
    Hq {
        reachable: bool,
    },
    /// The deadline of [`LaneCore::next_deadline`] has come.
    Tick,
}

/// Why a connection is closed; its code and text go to the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    NotAMember,
    Duplicate,
    Removed,
}

impl CloseReason {
    pub fn code(self) -> u32 {
        match self {
            CloseReason::NotAMember => 1,
            CloseReason::Removed => 3,
            CloseReason::Duplicate => 4,
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            CloseReason::NotAMember => "not a member of this store",
            CloseReason::Removed => "removed from the store",
            CloseReason::Duplicate => "duplicate connection",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send one frame to a connected peer.
    Send {
        peer: PeerId,
        frame: Vec<u8>,
    },
    /// Connect to `peer` (at these addresses, if any are known).
    Dial {
        peer: PeerId,
        addrs: Vec<SocketAddr>,
    },
    Close {
        peer: PeerId,
        conn: ConnId,
        reason: CloseReason,
    },
    /// Broadcast this announcement on the store's gossip topic.
    Announce(Vec<u8>),
    /// Ask gossip to join these members.
    JoinGossip(Vec<PeerId>),
    /// The members admitted from now on (for the driver's accept handlers).
    Admitted(BTreeSet<PeerId>),
    Event(LaneEvent),
}

/// One peer as the live view shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    pub peer: PeerId,
    /// Its lane number, when the `members` document knows it.
    pub lane: Option<u16>,
    pub connected: bool,
    /// Documents not yet converged with it.
    pub pending_docs: usize,
    /// How long the oldest of those has waited.
    pub behind_for: Option<Duration>,
    /// Since its last message (`None`: never heard from).
    pub last_heard: Option<Duration>,
    /// Frames' bytes (payload and 4-byte length), both ways, since the lane started.
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

/// The store's leader as this lane sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leader {
    pub peer: PeerId,
    /// Its lane number, when the `members` document knows it.
    pub lane: Option<u16>,
    /// The leader is this lane.
    pub me: bool,
    /// Since when (the driver's monotonic time) it has led, as seen here.
    pub since: Duration,
}

/// What the lane core reports, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaneEvent {
    /// From the replication engine: peer up/down, a document changed by a peer, a refused
    /// message.
    Sync(SyncEvent),
    /// Every status tick: each known peer's state.
    Peers(Vec<PeerStatus>),
    /// A connection, announcement or dial refused (not a member, removed, malformed).
    Refused(String),
    /// What peers sent could not be stored (why); the sync sessions started over.
    StoreFailed(String),
    /// The store's leader changed (`None`: no lane that can reach HQ is heard).
    Leader(Option<Leader>),
}

/// Bytes counted per frame besides its payload (the length prefix).
const FRAME_OVERHEAD: u64 = 4;

#[derive(Debug, Default)]
struct Stats {
    last_heard: Option<Duration>,
    bytes_sent: u64,
    bytes_received: u64,
}

/// The lane core. See the module documentation.
#[derive(Debug)]
pub struct LaneCore {
    config: LaneConfig,
    engine: SyncEngine,
    admitted: BTreeSet<PeerId>,
    lanes: BTreeMap<PeerId, u16>,
    /// The connection kept with each peer, and who dialed it.
    conns: BTreeMap<PeerId, (ConnId, PeerId)>,
    /// Dials under way and when they started.
    dialing: BTreeMap<PeerId, Duration>,
    /// Known addresses of peers.
    addrs: BTreeMap<PeerId, Vec<SocketAddr>>,
    stats: BTreeMap<PeerId, Stats>,
    /// Documents changed lately, newest last (what announcements name).
    recent: VecDeque<DocName>,
    my_addrs: Vec<SocketAddr>,
    /// Announcements sent so far.
    announced: u64,
    next_status: Option<Duration>,
    /// When the endpoint started.
    started: Option<Duration>,
    /// Since when this lane can reach HQ (`None`: it cannot).
    hq: Option<Duration>,
    /// Each lane's last own announcement: when, and whether it could reach HQ.
    heard: BTreeMap<PeerId, (Duration, bool)>,
    leader: Option<Leader>,
}

impl LaneCore {
    pub fn new(config: LaneConfig) -> LaneCore {
        let mut addrs = BTreeMap::new();
        for (p, a) in &config.static_peers {
            addrs.insert(p.clone(), a.clone());
        }
        LaneCore {
            config,
            engine: SyncEngine::new(),
            admitted: BTreeSet::new(),
            lanes: BTreeMap::new(),
            conns: BTreeMap::new(),
            dialing: BTreeMap::new(),
            addrs,
            stats: BTreeMap::new(),
            recent: VecDeque::new(),
            my_addrs: Vec::new(),
            announced: 0,
            next_status: None,
            started: None,
            hq: None,
            heard: BTreeMap::new(),
            leader: None,
        }
    }

    /// The store's leader as this lane sees it.
    pub fn leader(&self) -> Option<&Leader> {
        self.leader.as_ref()
    }

    /// This lane leads the store.
    pub fn is_leader(&self) -> bool {
        self.leader.as_ref().is_some_and(|l| l.me)
    }

    /// How long a lane stays a candidate after its last announcement.
    pub fn lease(&self) -> Duration {
        self.config.status_every * LEASE_TICKS
    }

    /// Recomputes the leader (see the module documentation); reports a change.
    fn elect(&mut self, now: Duration, out: &mut Vec<Output>) {
        let Some(started) = self.started else {
            return;
        };
        let lease = self.lease();
        let rank = |p: &PeerId| (self.lanes.get(p).copied().unwrap_or(u16::MAX), p.clone());
        let mut best: Option<(u16, PeerId)> = None;
        let mut consider = |c: (u16, PeerId)| {
            if best.as_ref().is_none_or(|b| c < *b) {
                best = Some(c);
            }
        };
        for (p, (t, hq)) in &self.heard {
            if *hq && self.admitted.contains(p) && now.saturating_sub(*t) <= lease {
                consider(rank(p));
            }
        }
        if let Some(since) = self.hq
            && now.saturating_sub(started.max(since)) >= lease
        {
            consider(rank(&self.config.me));
        }
        let peer = best.map(|(_, p)| p);
        if peer.as_ref() == self.leader.as_ref().map(|l| &l.peer) {
            return;
        }
        self.leader = peer.map(|peer| Leader {
            lane: self.lanes.get(&peer).copied(),
            me: peer == self.config.me,
            peer,
            since: now,
        });
        out.push(Output::Event(LaneEvent::Leader(self.leader.clone())));
    }

    pub fn me(&self) -> &PeerId {
        &self.config.me
    }

    /// The members admitted right now.
    pub fn admitted(&self) -> &BTreeSet<PeerId> {
        &self.admitted
    }

    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.conns.contains_key(peer)
    }

    /// The connection kept with `peer`, if any.
    pub fn conn_with(&self, peer: &PeerId) -> Option<ConnId> {
        self.conns.get(peer).map(|(c, _)| *c)
    }

    /// The replication engine (for status and tests).
    pub fn engine(&self) -> &SyncEngine {
        &self.engine
    }

    /// When [`Input::Tick`] is next due.
    pub fn next_deadline(&self) -> Option<Duration> {
        match (self.next_status, self.engine.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Handles one input at `now` and returns what to do, in order.
    pub fn handle<S: LaneStore>(
        &mut self,
        input: Input,
        now: Duration,
        store: &mut S,
    ) -> Vec<Output>
    where
        S::Error: fmt::Display,
    {
        let mut out = Vec::new();
        match input {
            Input::Started { addrs } => {
                self.my_addrs = addrs;
                self.refresh_members(store, &mut out);
                let peers: Vec<PeerId> = self
                    .config
                    .static_peers
                    .iter()
                    .map(|(p, _)| p.clone())
                    .collect();
                out.push(Output::JoinGossip(self.admitted.iter().cloned().collect()));
                for p in peers {
                    self.dial(&p, now, &mut out);
                }
                self.next_status = Some(now + self.config.status_every);
                self.started = Some(now);
            }
            Input::Connected {
                peer,
                conn,
                dialer,
                remote,
            } => self.on_connected(peer, conn, &dialer, remote, now, store, &mut out),
            Input::Disconnected { peer, conn } => {
                if self.conns.get(&peer).is_some_and(|(c, _)| *c == conn) {
                    self.conns.remove(&peer);
                    let o = self.engine.disconnected(&peer);
                    self.forward(o, &mut out);
                }
            }
            Input::Frame { peer, bytes } => {
                if !self.conns.contains_key(&peer) {
                    return out;
                }
                let s = self.stats.entry(peer.clone()).or_default();
                s.last_heard = Some(now);
                s.bytes_received += bytes.len() as u64 + FRAME_OVERHEAD;
                if bytes.first() == Some(&4)
                    && let Ok(WireMessage::Announce(a)) = WireMessage::decode(&bytes)
                {
                    self.on_announce(&peer, &a, now, store, &mut out);
                    return out;
                }
                let o = self.engine.received(&peer, &bytes, store, now);
                self.forward(o, &mut out);
                let changed = store.take_changed();
                self.offer(changed, now, store, &mut out);
            }
            Input::Announcement { via, bytes } => {
                self.on_announce(&via, &bytes, now, store, &mut out)
            }
            Input::Discovered { peer, addrs } => {
                self.learn(&peer, &addrs);
                if self.admitted.contains(&peer) && !self.conns.contains_key(&peer) {
                    self.dial(&peer, now, &mut out);
                }
            }
            Input::DialFailed { peer, reason } => {
                self.dialing.remove(&peer);
                out.push(Output::Event(LaneEvent::Refused(format!(
                    "dial {}: {reason}",
                    short(&peer)
                ))));
            }
            Input::LocalChange { docs } => self.offer(docs, now, store, &mut out),
            Input::Stored(Ok(docs)) => self.offer(docs, now, store, &mut out),
            Input::Stored(Err(reason)) => {
                out.push(Output::Event(LaneEvent::StoreFailed(reason)));
                let peers: Vec<PeerId> = self.conns.keys().cloned().collect();
                for peer in peers {
                    let o = self.engine.start_over(&peer, store, now);
                    self.forward(o, &mut out);
                }
            }
            Input::Refused(why) => out.push(Output::Event(LaneEvent::Refused(why))),
            Input::Hq { reachable } => {
                self.hq = match (reachable, self.hq) {
                    (true, Some(since)) => Some(since),
                    (true, None) => Some(now),
                    (false, _) => None,
                };
                self.elect(now, &mut out);
            }
            Input::Tick => {
                if self.next_status.is_some_and(|t| now >= t) {
                    self.on_status(now, store, &mut out);
                    let every = self.config.status_every;
                    // Catch up without a burst after a long pause.
                    self.next_status = self.next_status.map(|t| (t + every).max(now));
                }
                let o = self.engine.tick(store, now);
                self.forward(o, &mut out);
            }
        }
        out
    }

    /// The status of every known peer at `now`.
    pub fn peer_status(&self, now: Duration) -> Vec<PeerStatus> {
        let mut peers: BTreeSet<&PeerId> = self.stats.keys().collect();
        peers.extend(self.admitted.iter());
        peers
            .into_iter()
            .map(|peer| {
                let s = self.stats.get(peer);
                PeerStatus {
                    peer: peer.clone(),
                    lane: self.lanes.get(peer).copied(),
                    connected: self.conns.contains_key(peer),
                    pending_docs: self.engine.pending_with(peer),
                    behind_for: self.engine.behind_for(peer, now),
                    last_heard: s.and_then(|s| s.last_heard).map(|t| now.saturating_sub(t)),
                    bytes_sent: s.map_or(0, |s| s.bytes_sent),
                    bytes_received: s.map_or(0, |s| s.bytes_received),
                }
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn on_connected<S: LaneStore>(
        &mut self,
        peer: PeerId,
        conn: ConnId,
        dialer: &PeerId,
        remote: Option<SocketAddr>,
        now: Duration,
        store: &mut S,
        out: &mut Vec<Output>,
    ) {
        self.dialing.remove(&peer);
        if !self.admitted.contains(&peer) {
            out.push(Output::Close {
                peer: peer.clone(),
                conn,
                reason: CloseReason::NotAMember,
            });
            out.push(Output::Event(LaneEvent::Refused(format!(
                "connection from non-member {}",
                peer.0
            ))));
            return;
        }
        // Both sides dialed: keep the connection dialed by the lower node id (the newer one
        // when both were dialed by the same side).
        if let Some((existing, existing_dialer)) = self.conns.get(&peer) {
            let keep_new = dialer <= existing_dialer;
            if !keep_new {
                out.push(Output::Close {
                    peer,
                    conn,
                    reason: CloseReason::Duplicate,
                });
                return;
            }
            out.push(Output::Close {
                peer: peer.clone(),
                conn: *existing,
                reason: CloseReason::Duplicate,
            });
            let o = self.engine.disconnected(&peer);
            self.forward(o, out);
        }
        if let Some(a) = remote {
            self.learn(&peer, &[a]);
        }
        self.conns.insert(peer.clone(), (conn, dialer.clone()));
        self.stats.entry(peer.clone()).or_default().last_heard = Some(now);
        let o = self.engine.connected(peer, store, now);
        self.forward(o, out);
    }

    fn on_announce<S: LaneStore>(
        &mut self,
        via: &PeerId,
        bytes: &[u8],
        now: Duration,
        store: &mut S,
        out: &mut Vec<Output>,
    ) {
        if !self.admitted.contains(via) {
            out.push(Output::Event(LaneEvent::Refused(format!(
                "announcement via non-member {}",
                via.0
            ))));
            return;
        }
        let a = match Announce::decode(bytes) {
            Ok(a) => a,
            Err(e) => {
                out.push(Output::Event(LaneEvent::Refused(format!(
                    "announcement via {}: {e}",
                    via.0
                ))));
                return;
            }
        };
        let author = PeerId(hex(&a.node));
        if author == self.config.me || !self.admitted.contains(&author) {
            return;
        }
        self.heard.insert(author.clone(), (now, a.hq));
        self.elect(now, out);
        self.learn(&author, &a.addrs);
        if self.conns.contains_key(&author) {
            let o = self.engine.announced(&author, &a.docs, store, now);
            self.forward(o, out);
        } else {
            // A member we are not connected to: (re)introduce ourselves.
            self.dial(&author, now, out);
        }
    }

    fn on_status<S: LaneStore>(&mut self, now: Duration, store: &mut S, out: &mut Vec<Output>)
    where
        S::Error: fmt::Display,
    {
        let missing: Vec<PeerId> = self
            .admitted
            .iter()
            .filter(|m| !self.conns.contains_key(*m) && self.addrs.contains_key(*m))
            .cloned()
            .collect();
        for m in missing {
            self.dial(&m, now, out);
        }
        if self.announced.is_multiple_of(REJOIN_EVERY) {
            let known: Vec<PeerId> = self
                .admitted
                .iter()
                .filter(|m| self.addrs.contains_key(*m))
                .cloned()
                .collect();
            out.push(Output::JoinGossip(known));
        }
        let mut docs = Vec::new();
        for d in self.recent.iter().rev() {
            if let Ok(h) = store.heads(d) {
                docs.push((d.clone(), crate::sync::digest_of(&h)));
            }
        }
        self.announced += 1;
        if let Some(node) = unhex32(&self.config.me.0) {
            let a = Announce {
                node,
                seq: self.announced,
                addrs: self.my_addrs.clone(),
                docs,
                hq: self.hq.is_some(),
            };
            let bytes = a.encode();
            let frame = WireMessage::Announce(bytes.clone()).encode();
            let peers: Vec<PeerId> = self.conns.keys().cloned().collect();
            for peer in peers {
                self.stats.entry(peer.clone()).or_default().bytes_sent +=
                    frame.len() as u64 + FRAME_OVERHEAD;
                out.push(Output::Send {
                    peer,
                    frame: frame.clone(),
                });
            }
            out.push(Output::Announce(bytes));
        }
        self.elect(now, out);
        out.push(Output::Event(LaneEvent::Peers(self.peer_status(now))));
    }

    /// Offers changed documents to every peer; a change of `members` recomputes admission.
    fn offer<S: LaneStore>(
        &mut self,
        docs: Vec<DocName>,
        now: Duration,
        store: &mut S,
        out: &mut Vec<Output>,
    ) where
        S::Error: fmt::Display,
    {
        if docs.is_empty() {
            return;
        }
        if docs.iter().any(|d| d.as_str() == "members") {
            self.refresh_members(store, out);
        }
        for d in &docs {
            if let Some(i) = self.recent.iter().position(|x| x == d) {
                self.recent.remove(i);
            }
            self.recent.push_back(d.clone());
            if self.recent.len() > ANNOUNCE_DOCS {
                self.recent.pop_front();
            }
        }
        let o = self.engine.local_change(&docs, store, now);
        self.forward(o, out);
    }

    /// Recomputes the admitted set from the `members` document and the static list; closes the
    /// connections of lanes no longer admitted.
    fn refresh_members<S: LaneStore>(&mut self, store: &mut S, out: &mut Vec<Output>)
    where
        S::Error: fmt::Display,
    {
        let members = match store.members() {
            Ok(m) => m,
            Err(e) => {
                out.push(Output::Event(LaneEvent::Refused(format!(
                    "members document: {e}"
                ))));
                return;
            }
        };
        let mut set = self.config.static_members.clone();
        set.extend(self.config.static_peers.iter().map(|(p, _)| p.clone()));
        self.lanes.clear();
        for m in &members {
            let id = PeerId(m.node_id.to_ascii_lowercase());
            if m.is_active() {
                self.lanes.insert(id.clone(), m.lane);
                set.insert(id);
            } else {
                set.remove(&id);
            }
        }
        set.remove(&self.config.me);
        if set != self.admitted {
            self.admitted = set;
            out.push(Output::Admitted(self.admitted.clone()));
            self.heard.retain(|p, _| self.admitted.contains(p));
        }
        let gone: Vec<PeerId> = self
            .conns
            .keys()
            .filter(|p| !self.admitted.contains(*p))
            .cloned()
            .collect();
        for peer in gone {
            if let Some((conn, _)) = self.conns.remove(&peer) {
                out.push(Output::Close {
                    peer: peer.clone(),
                    conn,
                    reason: CloseReason::Removed,
                });
                out.push(Output::Event(LaneEvent::Refused(format!(
                    "{}: removed from the store",
                    peer.0
                ))));
            }
            let o = self.engine.disconnected(&peer);
            self.forward(o, out);
        }
    }

    fn dial(&mut self, peer: &PeerId, now: Duration, out: &mut Vec<Output>) {
        if *peer == self.config.me {
            return;
        }
        if !self.admitted.contains(peer) {
            out.push(Output::Event(LaneEvent::Refused(format!(
                "not dialing non-member {}",
                peer.0
            ))));
            return;
        }
        if self.conns.contains_key(peer)
            || self
                .dialing
                .get(peer)
                .is_some_and(|t| now.saturating_sub(*t) < REDIAL_AFTER)
        {
            return;
        }
        self.dialing.insert(peer.clone(), now);
        out.push(Output::Dial {
            peer: peer.clone(),
            addrs: self.addrs.get(peer).cloned().unwrap_or_default(),
        });
    }

    fn learn(&mut self, peer: &PeerId, addrs: &[SocketAddr]) {
        if addrs.is_empty() || *peer == self.config.me {
            return;
        }
        let known = self.addrs.entry(peer.clone()).or_default();
        for a in addrs {
            if !known.contains(a) {
                known.insert(0, *a);
            }
        }
        known.truncate(8);
    }

    /// Turns the engine's outputs into the core's, counting bytes sent.
    fn forward(&mut self, outputs: Vec<SyncOutput>, out: &mut Vec<Output>) {
        for o in outputs {
            match o {
                SyncOutput::Send { to, message } => {
                    if !self.conns.contains_key(&to) {
                        continue;
                    }
                    let frame = message.encode();
                    self.stats.entry(to.clone()).or_default().bytes_sent +=
                        frame.len() as u64 + FRAME_OVERHEAD;
                    out.push(Output::Send { peer: to, frame });
                }
                SyncOutput::Event(e) => out.push(Output::Event(LaneEvent::Sync(e))),
            }
        }
    }
}

/// The first 8 characters of a peer's id, for messages.
fn short(p: &PeerId) -> &str {
    p.0.get(..8).unwrap_or(&p.0)
}

/// Lowercase hex of a node id.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A 64-character hex node id as bytes.
pub fn unhex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_store_policy_stores_a_quiet_lan_at_once_and_a_stream_every_fifty_ms() {
        let mut p = StorePolicy::default();
        assert_eq!(p.due(), Duration::ZERO, "nothing stored yet: at once");
        // A sale alone: the next store 5 ms after it (at once when something arrives later).
        p.stored(1000 * MS, 1);
        assert!(!p.streaming());
        assert_eq!(p.due(), 1005 * MS);
        p.stored(1010 * MS, StorePolicy::QUIET_BATCH);
        assert!(!p.streaming(), "three records are still quiet");
        assert_eq!(p.due(), 1015 * MS);
        // A bigger batch (a bootstrap, sales of several lanes together): every 50 ms.
        p.stored(1020 * MS, StorePolicy::QUIET_BATCH + 1);
        assert!(p.streaming());
        assert_eq!(p.due(), 1070 * MS);
        // A small batch again: quiet.
        p.stored(1070 * MS, 1);
        assert!(!p.streaming());
        assert_eq!(p.due(), 1075 * MS);
    }
}
