//! Lane-to-lane replication, sans-IO: a state machine with no sockets, clocks or threads.
//!
//! Inputs: a peer connected or disconnected, a message from a peer, local changes, `now`.
//! Outputs: messages to send and the next deadline. The documents themselves are reached
//! through [`DocAccess`] (the `Till` implements it), so the engine never touches storage.
//!
//! Protocol, per connected peer:
//! 1. each side sends a [`WireMessage::Manifest`]: every document it has with a digest of its
//!    heads (kept in the rows that store its changes; no document is loaded);
//! 2. for every document whose digest differs, or that one side lacks, the two run the
//!    Automerge sync protocol ([`WireMessage::Sync`]) with one sync state per peer and document
//!    until both have the same heads; a side with nothing more to send answers with a
//!    [`WireMessage::Ack`] carrying its heads digest, and equal digests mark the document as
//!    converged with that peer;
//! 3. a local change starts the same exchange for the changed documents with every peer.
//!
//! Messages can be lost, duplicated or reordered: a document that has not converged with a peer
//! by its deadline gets a fresh sync state and starts over, which the Automerge protocol
//! tolerates. Every decode is bounded and defensive; nothing a peer sends can panic the engine.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use automerge::ChangeHash;
use automerge::sync::State;
use sha2::Sha256;

use crate::wire::Digest;
pub use crate::wire::{DocName, MAX_MESSAGE_BYTES, SYNC_ALPN as ALPN, WireMessage};

/// A document not converged with a peer this long after the last exchange starts over, once
/// the peer has also been silent for [`PEER_QUIET`] (a peer busy applying a backlog, e.g. a new
/// lane taking in the whole store, is not stalled: restarting would resend whole documents and
/// bury it deeper) or, at the latest, after [`GIVE_UP_WAITING`].
pub const RESYNC_AFTER: Duration = Duration::from_millis(1500);
pub const PEER_QUIET: Duration = Duration::from_millis(500);
pub const GIVE_UP_WAITING: Duration = Duration::from_secs(15);

/// A peer lane: its iroh node id (hex) in production, any name in tests.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub String);

/// A digest of a document's heads (as stored by `docs::encode_heads`).
pub fn heads_digest(encoded_heads: &[u8]) -> Digest {
    use sha2::Digest as _;
    Sha256::digest(encoded_heads).into()
}

/// What the engine needs from the documents.
pub trait DocAccess {
    type Error: std::fmt::Display;
    /// Every document held, with its heads digest (cheap: no document is loaded).
    fn manifest(&mut self) -> Result<Vec<(DocName, Digest)>, Self::Error>;
    /// The current heads of one document.
    fn heads(&mut self, doc: &DocName) -> Result<Vec<ChangeHash>, Self::Error>;
    /// The next Automerge sync message for `doc` towards the peer of `state`.
    fn generate(
        &mut self,
        doc: &DocName,
        state: &mut State,
    ) -> Result<Option<Vec<u8>>, Self::Error>;
    /// Applies a peer's sync message. Returns whether the document changed. A store may keep
    /// the change in memory and write it later (`Replica`: the driver asks it to, and reports
    /// the outcome with `lane::Input::Stored`); heads and replies include it at once.
    fn receive(
        &mut self,
        doc: &DocName,
        state: &mut State,
        message: &[u8],
    ) -> Result<bool, Self::Error>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Send {
        to: PeerId,
        message: WireMessage,
    },
    /// Something for the live view and the logs.
    Event(SyncEvent),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncEvent {
    PeerUp(PeerId),
    PeerDown(PeerId),
    /// A document changed because of what a peer sent.
    Changed {
        from: PeerId,
        doc: DocName,
    },
    /// A peer's message was refused (malformed, oversized, or failed to apply).
    Rejected {
        from: PeerId,
        reason: String,
    },
}

#[derive(Debug, Default)]
struct DocSync {
    state: State,
    /// When the last exchange for this document happened; `None` when converged.
    pending_since: Option<Duration>,
    /// We sent a sync message the peer has not answered yet. Local changes made meanwhile wait
    /// for the answer and then travel together in one message, so a busy lane sends one
    /// message per round trip, not one per sale, and the peer applies them in one transaction.
    awaiting: bool,
}

#[derive(Debug, Default)]
struct PeerSync {
    docs: BTreeMap<DocName, DocSync>,
    /// When the peer last sent anything.
    last_heard: Duration,
}

impl PeerSync {
    /// When a pending document is due to start over (see [`RESYNC_AFTER`]).
    fn due(&self, pending_since: Duration) -> Duration {
        (pending_since + RESYNC_AFTER)
            .max((self.last_heard + PEER_QUIET).min(pending_since + GIVE_UP_WAITING))
    }
}

/// The peers' states, with the earliest deadline among them remembered until one changes (a
/// driver asks for it after every input; the simulator after every event, over every lane).
/// Every change goes through `get_mut`, `insert` or `remove`, which forget it.
#[derive(Debug, Default)]
struct Peers {
    map: BTreeMap<PeerId, PeerSync>,
    deadline: std::cell::Cell<Option<Option<Duration>>>,
}

impl Peers {
    fn get(&self, peer: &PeerId) -> Option<&PeerSync> {
        self.map.get(peer)
    }

    fn get_mut(&mut self, peer: &PeerId) -> Option<&mut PeerSync> {
        self.deadline.set(None);
        self.map.get_mut(peer)
    }

    fn insert(&mut self, peer: PeerId, sync: PeerSync) {
        self.deadline.set(None);
        self.map.insert(peer, sync);
    }

    fn remove(&mut self, peer: &PeerId) -> Option<PeerSync> {
        self.deadline.set(None);
        self.map.remove(peer)
    }

    fn contains_key(&self, peer: &PeerId) -> bool {
        self.map.contains_key(peer)
    }

    fn keys(&self) -> impl Iterator<Item = &PeerId> {
        self.map.keys()
    }

    fn iter(&self) -> impl Iterator<Item = (&PeerId, &PeerSync)> {
        self.map.iter()
    }

    fn next_deadline(&self) -> Option<Duration> {
        if let Some(known) = self.deadline.get() {
            return known;
        }
        let next = self
            .map
            .values()
            .flat_map(|p| {
                p.docs
                    .values()
                    .filter_map(|d| d.pending_since.map(|t| p.due(t)))
            })
            .min();
        self.deadline.set(Some(next));
        next
    }
}

/// The replication state machine of one lane. Time is whatever monotonic `now` the driver
/// passes in (elapsed since the driver started).
#[derive(Debug, Default)]
pub struct SyncEngine {
    peers: Peers,
}

impl SyncEngine {
    pub fn new() -> Self {
        SyncEngine::default()
    }

    pub fn peers(&self) -> impl Iterator<Item = &PeerId> {
        self.peers.keys()
    }

    /// Documents not yet converged with `peer`.
    pub fn pending_with(&self, peer: &PeerId) -> usize {
        self.peers.get(peer).map_or(0, |p| {
            p.docs
                .values()
                .filter(|d| d.pending_since.is_some())
                .count()
        })
    }

    /// The documents not yet converged with `peer` (for the live view's per-peer lag).
    pub fn pending_docs(&self, peer: &PeerId) -> Vec<DocName> {
        self.peers.get(peer).map_or_else(Vec::new, |p| {
            p.docs
                .iter()
                .filter(|(_, d)| d.pending_since.is_some())
                .map(|(n, _)| n.clone())
                .collect()
        })
    }

    /// How long the oldest unconverged document with `peer` has waited (the per-peer lag of
    /// the live view); `None` when everything is converged.
    pub fn behind_for(&self, peer: &PeerId, now: Duration) -> Option<Duration> {
        self.peers
            .get(peer)?
            .docs
            .values()
            .filter_map(|d| d.pending_since)
            .min()
            .map(|t| now.saturating_sub(t))
    }

    /// A peer announced (over gossip) the heads digests of some documents. Those that differ
    /// from ours and are not already being exchanged with that peer start an exchange: a hint
    /// that costs nothing when the direct connection already carried everything.
    pub fn announced<D: DocAccess>(
        &mut self,
        peer: &PeerId,
        docs: &[(DocName, Digest)],
        store: &mut D,
        now: Duration,
    ) -> Vec<Output> {
        let mut out = Vec::new();
        let Some(p) = self.peers.get(peer) else {
            return out;
        };
        let idle: Vec<&(DocName, Digest)> = docs
            .iter()
            .filter(|(d, _)| p.docs.get(d).is_none_or(|s| s.pending_since.is_none()))
            .collect();
        for (doc, digest) in idle {
            match store.heads(doc) {
                Ok(h) if digest_of(&h) == *digest => {}
                Ok(_) => {
                    if !self.exchange(peer, doc, store, now, &mut out) {
                        // Our state thinks the peer is up to date; it is not: start over.
                        self.restart(peer, doc, store, now, &mut out);
                    }
                }
                Err(e) => out.push(reject(peer, format!("{doc}: {e}"))),
            }
        }
        out
    }

    pub fn connected<D: DocAccess>(
        &mut self,
        peer: PeerId,
        store: &mut D,
        now: Duration,
    ) -> Vec<Output> {
        self.peers.insert(
            peer.clone(),
            PeerSync {
                docs: BTreeMap::new(),
                last_heard: now,
            },
        );
        let mut out = vec![Output::Event(SyncEvent::PeerUp(peer.clone()))];
        match store.manifest() {
            Ok(m) => out.push(Output::Send {
                to: peer,
                message: WireMessage::Manifest(m),
            }),
            Err(e) => out.push(Output::Event(SyncEvent::Rejected {
                from: peer,
                reason: format!("local manifest: {e}"),
            })),
        }
        out
    }

    /// Starts the session with a connected peer over (every document's sync state forgotten,
    /// the manifest sent again), after this lane lost what it had acknowledged.
    pub fn start_over<D: DocAccess>(
        &mut self,
        peer: &PeerId,
        store: &mut D,
        now: Duration,
    ) -> Vec<Output> {
        if !self.peers.contains_key(peer) {
            return Vec::new();
        }
        let mut out = self.connected(peer.clone(), store, now);
        // It was up all along.
        out.retain(|o| !matches!(o, Output::Event(SyncEvent::PeerUp(_))));
        out
    }

    pub fn disconnected(&mut self, peer: &PeerId) -> Vec<Output> {
        match self.peers.remove(peer) {
            Some(_) => vec![Output::Event(SyncEvent::PeerDown(peer.clone()))],
            None => Vec::new(),
        }
    }

    /// Handles bytes received from `from`. Malformed input is reported and dropped.
    pub fn received<D: DocAccess>(
        &mut self,
        from: &PeerId,
        bytes: &[u8],
        store: &mut D,
        now: Duration,
    ) -> Vec<Output> {
        let mut out = Vec::new();
        let Some(peer) = self.peers.get_mut(from) else {
            return out;
        };
        peer.last_heard = now;
        let message = match WireMessage::decode(bytes) {
            Ok(m) => m,
            Err(e) => {
                out.push(reject(from, e.to_string()));
                return out;
            }
        };
        match message {
            // The lane core reads announcements before the engine sees a frame.
            WireMessage::Announce(_) => {}
            WireMessage::Manifest(theirs) => {
                let mine = match store.manifest() {
                    Ok(m) => m,
                    Err(e) => {
                        out.push(reject(from, format!("local manifest: {e}")));
                        return out;
                    }
                };
                let mine: BTreeMap<DocName, Digest> = mine.into_iter().collect();
                let theirs: BTreeMap<DocName, Digest> = theirs.into_iter().collect();
                let differing: BTreeSet<&DocName> = mine
                    .iter()
                    .filter(|(name, digest)| theirs.get(*name) != Some(digest))
                    .map(|(name, _)| name)
                    .chain(theirs.keys().filter(|name| !mine.contains_key(*name)))
                    .collect();
                for doc in differing {
                    if !self.exchange(from, doc, store, now, &mut out) {
                        // Our state thinks the peer is up to date; its manifest says otherwise
                        // (it lost what it had acknowledged, `start_over`): start over.
                        self.restart(from, doc, store, now, &mut out);
                    }
                }
            }
            WireMessage::Ack { doc, digest } => {
                if let Some(d) = self.peers.get_mut(from).and_then(|p| p.docs.get_mut(&doc)) {
                    d.awaiting = false;
                }
                let mine = match store.heads(&doc) {
                    Ok(h) => digest_of(&h),
                    Err(e) => {
                        out.push(reject(from, format!("{doc}: {e}")));
                        return out;
                    }
                };
                if mine == digest {
                    // Converged. If we were still waiting, the peer may be too: tell it.
                    let was_pending = self
                        .peers
                        .get_mut(from)
                        .and_then(|p| p.docs.get_mut(&doc))
                        .is_some_and(|d| d.pending_since.take().is_some());
                    if was_pending {
                        out.push(Output::Send {
                            to: from.clone(),
                            message: WireMessage::Ack { doc, digest: mine },
                        });
                    }
                } else if !self.exchange(from, &doc, store, now, &mut out) {
                    // Both sides think they are done but differ: our sync state is stale.
                    self.restart(from, &doc, store, now, &mut out);
                }
            }
            WireMessage::Sync { doc, data } => {
                let Some(peer) = self.peers.get_mut(from) else {
                    return out;
                };
                let entry = peer.docs.entry(doc.clone()).or_default();
                entry.awaiting = false;
                match store.receive(&doc, &mut entry.state, &data) {
                    Ok(changed) => {
                        entry.pending_since = Some(now);
                        if changed {
                            out.push(Output::Event(SyncEvent::Changed {
                                from: from.clone(),
                                doc: doc.clone(),
                            }));
                        }
                        if !self.exchange(from, &doc, store, now, &mut out) {
                            match store.heads(&doc) {
                                Ok(heads) => out.push(Output::Send {
                                    to: from.clone(),
                                    message: WireMessage::Ack {
                                        doc: doc.clone(),
                                        digest: digest_of(&heads),
                                    },
                                }),
                                Err(e) => out.push(reject(from, format!("{doc}: {e}"))),
                            }
                        }
                    }
                    Err(e) => {
                        // Start this document over with that peer.
                        entry.state = State::new();
                        out.push(reject(from, format!("{doc}: {e}")));
                    }
                }
            }
        }
        out
    }

    /// Local documents changed: offer them to every peer. A document with a message still
    /// unanswered by a peer is only marked pending there; the answer carries the exchange on.
    pub fn local_change<D: DocAccess>(
        &mut self,
        docs: &[DocName],
        store: &mut D,
        now: Duration,
    ) -> Vec<Output> {
        let mut out = Vec::new();
        let peers: Vec<PeerId> = self.peers.keys().cloned().collect();
        for peer in &peers {
            for doc in docs {
                let awaiting = self
                    .peers
                    .get_mut(peer)
                    .map(|p| p.docs.entry(doc.clone()).or_default())
                    .is_some_and(|d| {
                        if d.awaiting {
                            d.pending_since.get_or_insert(now);
                        }
                        d.awaiting
                    });
                if !awaiting {
                    self.exchange(peer, doc, store, now, &mut out);
                }
            }
        }
        out
    }

    /// Restarts documents whose exchange stalled (a lost or reordered message).
    pub fn tick<D: DocAccess>(&mut self, store: &mut D, now: Duration) -> Vec<Output> {
        let mut out = Vec::new();
        let stalled: Vec<(PeerId, DocName)> = self
            .peers
            .iter()
            .flat_map(|(p, s)| {
                s.docs
                    .iter()
                    .filter(|(_, d)| d.pending_since.is_some_and(|t| now >= s.due(t)))
                    .map(move |(doc, _)| (p.clone(), doc.clone()))
            })
            .collect();
        for (peer, doc) in stalled {
            self.restart(&peer, &doc, store, now, &mut out);
        }
        out
    }

    /// Starts `doc` over with `peer` from a fresh sync state.
    fn restart<D: DocAccess>(
        &mut self,
        peer: &PeerId,
        doc: &DocName,
        store: &mut D,
        now: Duration,
        out: &mut Vec<Output>,
    ) {
        if let Some(d) = self.peers.get_mut(peer).and_then(|p| p.docs.get_mut(doc)) {
            d.state = State::new();
            d.awaiting = false;
        }
        self.exchange(peer, doc, store, now, out);
    }

    /// The earliest moment `tick` has work, if any.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.peers.next_deadline()
    }

    /// Sends the next sync message for `doc` to `peer`, if there is one, and marks the document
    /// pending with that peer until an Ack with equal heads (or the deadline, which starts it
    /// over). Returns whether it sent something.
    fn exchange<D: DocAccess>(
        &mut self,
        peer: &PeerId,
        doc: &DocName,
        store: &mut D,
        now: Duration,
        out: &mut Vec<Output>,
    ) -> bool {
        let Some(p) = self.peers.get_mut(peer) else {
            return false;
        };
        let entry = p.docs.entry(doc.clone()).or_default();
        match store.generate(doc, &mut entry.state) {
            Ok(Some(data)) => {
                entry.pending_since = Some(now);
                entry.awaiting = true;
                out.push(Output::Send {
                    to: peer.clone(),
                    message: WireMessage::Sync {
                        doc: doc.clone(),
                        data,
                    },
                });
                true
            }
            Ok(None) => false,
            Err(e) => {
                out.push(reject(peer, format!("{doc}: {e}")));
                false
            }
        }
    }
}

/// The digest a manifest, an Ack or an announcement carries for these heads.
pub fn digest_of(heads: &[ChangeHash]) -> Digest {
    let mut sorted: Vec<&ChangeHash> = heads.iter().collect();
    sorted.sort();
    let bytes: Vec<u8> = sorted.iter().flat_map(|h| h.0).collect();
    heads_digest(&bytes)
}

fn reject(from: &PeerId, reason: String) -> Output {
    Output::Event(SyncEvent::Rejected {
        from: from.clone(),
        reason,
    })
}
