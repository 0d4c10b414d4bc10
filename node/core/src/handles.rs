//! Two handles on one lane file, so that a sale never waits for replication.
//!
//! The [`Till`] is the cashier's handle: every local edit, sales first. The [`Replica`] is the
//! replicator's: it merges what peers send and answers their sync requests, on its own
//! connection and thread. Each caches the documents it uses; before using one it catches up on
//! the change rows the other appended (`DocStore::get`), so both always see what is committed.
//!
//! Writes take turns through a [`WriteGate`] shared by the two: the till's writes go first — a
//! replica write that has not started waits while a till write is waiting or running — so a
//! sale waits at most for the one merge already in progress, never for a queue of them, and it
//! waits on a condition variable rather than in SQLite's busy-retry sleeps. What need not wait
//! at all (the projections of a sale already durable in the ledger file) does not: the till
//! tries for a turn ([`WriteGate::try_enter`]) and, when a merge is in progress, keeps its place
//! and tries again a moment later, answering the cashier in between. SQLite's own write lock
//! (`BEGIN IMMEDIATE`) still guards the file against other processes.

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use automerge::ChangeHash;
use automerge::sync::State;

use crate::db::File;
use crate::error::Result;
use crate::lane::LaneStore;
use crate::live::LiveEvent;
use crate::members::Member;
use crate::sync::DocAccess;
use crate::till::{Till, TillOptions};
use crate::wire::{Digest, DocName};

/// Who is writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// The till: goes before any replica write that has not started.
    Till,
    /// The replicator: waits while a till write is waiting or running.
    Replica,
}

#[derive(Debug, Default)]
struct GateState {
    busy: bool,
    till_waiting: usize,
    /// The till tried for a turn while the file was busy and will try again
    /// ([`WriteGate::try_enter`]): no replica write starts before it has had its turn.
    till_reserved: bool,
}

/// Turns at writing one file.
#[derive(Debug, Default)]
struct FileGate {
    state: Mutex<GateState>,
    turn: Condvar,
}

/// Turns at writing, shared by the handles of one lane: one queue per file (the lane file and
/// its ledger file are written independently, see `db::File`).
#[derive(Debug, Default)]
pub struct WriteGate {
    main: FileGate,
    ledger: FileGate,
    /// A replica keeps the lane file: compaction and checkpoints ([`Replica::keep_lane_file`]).
    lane_file_kept: AtomicBool,
}

impl WriteGate {
    pub fn new() -> Arc<WriteGate> {
        Arc::new(WriteGate::default())
    }

    /// Waits for this writer's turn at writing `file`; the turn ends when the returned guard
    /// drops.
    pub fn enter(&self, file: File, who: Priority) -> GateTurn<'_> {
        let gate = self.file(file);
        let mut s = gate.lock();
        match who {
            Priority::Till => {
                s.till_waiting += 1;
                while s.busy {
                    s = gate.turn.wait(s).unwrap_or_else(|e| e.into_inner());
                }
                s.till_waiting -= 1;
                s.till_reserved = false;
            }
            Priority::Replica => {
                while s.busy || s.till_waiting > 0 || s.till_reserved {
                    s = gate.turn.wait(s).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
        s.busy = true;
        GateTurn { gate }
    }

    /// The till's turn at writing `file` if nobody is writing it now. Otherwise `None`, and the
    /// till keeps its place: no replica write starts until the till takes a turn (calling this
    /// or [`WriteGate::enter`] again) or gives its place up ([`WriteGate::give_up_place`]). A
    /// replica's try is only ever a try: it keeps no place.
    pub fn try_enter(&self, file: File, who: Priority) -> Option<GateTurn<'_>> {
        let gate = self.file(file);
        let mut s = gate.lock();
        let free = !s.busy && (who == Priority::Till || (s.till_waiting == 0 && !s.till_reserved));
        if free {
            s.busy = true;
            if who == Priority::Till {
                s.till_reserved = false;
            }
            return Some(GateTurn { gate });
        }
        if who == Priority::Till {
            s.till_reserved = true;
        }
        None
    }

    /// Gives up the place the till kept at `file` ([`WriteGate::try_enter`]), if it kept one.
    pub fn give_up_place(&self, file: File) {
        let gate = self.file(file);
        let mut s = gate.lock();
        if s.till_reserved {
            s.till_reserved = false;
            drop(s);
            gate.turn.notify_all();
        }
    }

    /// Whether a replica keeps the lane file ([`Replica::keep_lane_file`]): then the till's
    /// housekeeping leaves that file to it.
    pub fn lane_file_kept(&self) -> bool {
        self.lane_file_kept.load(Ordering::Relaxed)
    }

    fn file(&self, file: File) -> &FileGate {
        match file {
            File::Main => &self.main,
            File::Ledger => &self.ledger,
        }
    }
}

impl FileGate {
    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A writer's turn at the [`WriteGate`].
pub struct GateTurn<'a> {
    gate: &'a FileGate,
}

impl fmt::Debug for GateTurn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GateTurn")
    }
}

impl Drop for GateTurn<'_> {
    fn drop(&mut self) {
        self.gate.lock().busy = false;
        self.gate.turn.notify_all();
    }
}

/// The replicator's handle on a lane file: merges peers' changes, answers their sync
/// requests, reports what changed. It never authors a change of its own.
/// A further handle on a set-up lane, writing after the till like the replica: the HQ
/// driver's (it writes only `synced/…` documents and outbox marks, which no other handle of
/// the lane writes, so the lane's one Automerge actor never makes two changes at once to one
/// document).
pub fn open_background(
    path: impl AsRef<Path>,
    options: TillOptions,
    gate: Arc<WriteGate>,
) -> Result<Till> {
    let mut till = Till::open_handle(path.as_ref(), options, Priority::Replica)?;
    till.config()?;
    till.share_writes(gate, Priority::Replica);
    Ok(till)
}

#[derive(Debug)]
pub struct Replica {
    till: Till,
    /// This replica keeps the lane file ([`Replica::keep_lane_file`]).
    keeps: bool,
}

impl Replica {
    /// Opens a second handle on the lane file of `till` (which must exist and be set up),
    /// taking turns at writing with it.
    pub fn open(
        path: impl AsRef<Path>,
        options: TillOptions,
        gate: Arc<WriteGate>,
    ) -> Result<Replica> {
        let mut till = Till::open_handle(path.as_ref(), options, Priority::Replica)?;
        till.config()?;
        till.share_writes(gate, Priority::Replica);
        Ok(Replica { till, keeps: false })
    }

    /// From now on this replica keeps the lane file, and the till's housekeeping
    /// ([`Till::maintenance`]) folds and checkpoints only the ledger file: the caller runs
    /// [`Replica::upkeep`] now and then. On a lane whose peers sell, most of what the lane file
    /// gains is their merged sales; folding their documents (an Automerge save of a day's
    /// ledger) and checkpointing what they wrote took up to 150 ms on the till's thread between
    /// customers, and the next customer's first scan waited for it. Ends when the replica is
    /// dropped.
    pub fn keep_lane_file(&mut self) {
        self.keeps = true;
        self.gate().lane_file_kept.store(true, Ordering::Relaxed);
    }

    /// The lane file's housekeeping (see [`Replica::keep_lane_file`]): documents with many
    /// incremental changes folded into snapshots, one per turn at writing the file, then a
    /// checkpoint. Returns how many documents were compacted.
    pub fn upkeep(&mut self) -> Result<usize> {
        // What was received is stored first, so that a snapshot never holds changes whose
        // records are not projected yet.
        self.till.store_received()?;
        self.till.fold_and_checkpoint(File::Main)
    }

    fn gate(&self) -> &WriteGate {
        let (gate, _) = self
            .till
            .gate
            .as_ref()
            .expect("a replica shares the till's gate");
        gate
    }

    /// Starts reporting committed changes as live events (see [`Replica::take_live_events`]).
    pub fn watch_live(&mut self) -> Result<()> {
        self.till.watch_live()
    }

    /// Live events of merges committed since the last call, and how many were dropped.
    pub fn take_live_events(&mut self) -> (Vec<LiveEvent>, u64) {
        self.till.take_live_events()
    }

    /// Every document with its heads digest.
    pub fn document_manifest(&self) -> Result<Vec<(DocName, Digest)>> {
        self.till.document_manifest()
    }

    /// This lane's number.
    pub fn lane(&self) -> Result<u16> {
        Ok(self.till.lane()?.get())
    }

    /// Whether received changes wait to be stored ([`Replica::store_received`]).
    pub fn has_received(&self) -> bool {
        self.till.has_received()
    }

    /// Stores the changes received since the last call, with their projections, in a few
    /// transactions (`Till::store_received`). The replicator calls it when no message waits
    /// for it, or every few milliseconds under a steady stream. On error the changes it could
    /// not store are forgotten: start the sync sessions over (they are sent again).
    pub fn store_received(&mut self) -> Result<crate::sale::MergeOutcome> {
        self.till.store_received()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if self.keeps {
            self.gate().lane_file_kept.store(false, Ordering::Relaxed);
        }
    }
}

impl DocAccess for Replica {
    type Error = crate::NodeError;

    fn manifest(&mut self) -> Result<Vec<(DocName, Digest)>> {
        // The manifest is read from the files: store what is only in memory first.
        self.till.store_received()?;
        self.till.manifest()
    }

    fn heads(&mut self, doc: &DocName) -> Result<Vec<ChangeHash>> {
        DocAccess::heads(&mut self.till, doc)
    }

    fn generate(&mut self, doc: &DocName, state: &mut State) -> Result<Option<Vec<u8>>> {
        self.till.generate(doc, state)
    }

    /// Applies the message in memory; [`Replica::store_received`] stores it.
    fn receive(&mut self, doc: &DocName, state: &mut State, message: &[u8]) -> Result<bool> {
        self.till.receive_sync_later(doc.as_str(), state, message)
    }
}

impl LaneStore for Replica {
    fn members(&mut self) -> Result<Vec<Member>> {
        self.till.lan_members()
    }

    fn take_changed(&mut self) -> Vec<DocName> {
        self.till.take_changed_documents()
    }

    fn has_received(&self) -> bool {
        self.till.has_received()
    }

    fn store_received(&mut self) -> Result<usize> {
        self.till.store_received().map(|o| o.records())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn a_waiting_till_write_goes_before_a_replica_write_that_has_not_started() {
        let gate = WriteGate::new();
        let order = Arc::new(Mutex::new(Vec::new()));
        let started = Arc::new(AtomicUsize::new(0));
        let first = gate.enter(File::Main, Priority::Replica);
        let mut threads = Vec::new();
        for who in [Priority::Replica, Priority::Till] {
            let (gate, order, arrived) = (gate.clone(), order.clone(), started.clone());
            threads.push(std::thread::spawn(move || {
                arrived.fetch_add(1, Ordering::SeqCst);
                let _turn = gate.enter(File::Main, who);
                order.lock().unwrap().push(who);
            }));
            // Let the replica queue up before the till arrives.
            while started.load(Ordering::SeqCst) < threads.len() {
                std::thread::yield_now();
            }
            #[allow(clippy::disallowed_methods)] // a test of threads needs real time
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(first);
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            vec![Priority::Till, Priority::Replica]
        );
    }

    /// Whether `gate` lets a replica write start now (a try, keeping no place).
    fn replica_may_start(gate: &WriteGate) -> bool {
        gate.try_enter(File::Main, Priority::Replica).is_some()
    }

    #[test]
    fn a_till_that_finds_the_file_busy_keeps_its_place_without_waiting() {
        let gate = WriteGate::new();
        let merge = gate.enter(File::Main, Priority::Replica);
        // The till does not wait for the merge in progress...
        assert!(gate.try_enter(File::Main, Priority::Till).is_none());
        drop(merge);
        // ...and no further replica write starts before the till has had its turn.
        assert!(!replica_may_start(&gate));
        let (gate2, started) = (gate.clone(), Arc::new(AtomicUsize::new(0)));
        let started2 = started.clone();
        let replica = std::thread::spawn(move || {
            let _turn = gate2.enter(File::Main, Priority::Replica);
            started2.fetch_add(1, Ordering::SeqCst);
        });
        #[allow(clippy::disallowed_methods)] // a test of threads needs real time
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            started.load(Ordering::SeqCst),
            0,
            "a replica write jumped the till's place"
        );
        let till = gate
            .try_enter(File::Main, Priority::Till)
            .expect("the till's turn");
        // The ledger file's queue is its own.
        assert!(gate.try_enter(File::Ledger, Priority::Replica).is_some());
        drop(till);
        replica.join().unwrap();
        assert_eq!(started.load(Ordering::SeqCst), 1);
        assert!(replica_may_start(&gate));
    }

    #[test]
    fn a_place_given_up_lets_the_replica_write() {
        let gate = WriteGate::new();
        let merge = gate.enter(File::Main, Priority::Replica);
        assert!(gate.try_enter(File::Main, Priority::Till).is_none());
        drop(merge);
        assert!(!replica_may_start(&gate));
        gate.give_up_place(File::Main);
        assert!(replica_may_start(&gate));
        // A blocking turn of the till also ends its kept place.
        let merge = gate.enter(File::Main, Priority::Replica);
        assert!(gate.try_enter(File::Main, Priority::Till).is_none());
        drop(merge);
        drop(gate.enter(File::Main, Priority::Till));
        assert!(replica_may_start(&gate));
    }
}
