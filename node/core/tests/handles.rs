//! Two handles on one lane file (issue #10): the till sells while its replica merges what a
//! peer sends, on the same documents, with a compaction in between; both stay coherent with
//! each other and with the peer. Then the same on two threads at once.

mod common;

use std::time::Duration;

use kasir_core::handles::{Replica, WriteGate};
use kasir_core::memnet::{LinkConfig, MemNet};
use kasir_core::schema::Decimal;
use kasir_core::schema::payment::Tender;
use kasir_core::sync::{DocAccess, Output, PeerId, SyncEngine};
use kasir_core::wire::DocName;
use kasir_core::{Priority, Till};

/// Lane 1 as two handles (till + replica), lane 2 as one; lane 1 holds the catalog.
struct Store {
    till: Till,
    replica: Replica,
    r_engine: SyncEngine,
    peer: Till,
    p_engine: SyncEngine,
    net: MemNet,
    /// Whether the replica stores what it received after each slice of 50 ms (as the LAN
    /// driver does at most every 50 ms).
    store: bool,
    /// The gate the till and the replica share.
    gate: std::sync::Arc<WriteGate>,
    _dir: tempfile::TempDir,
}

const A: &str = "lane-1";
const B: &str = "lane-2";

impl Store {
    fn new() -> Store {
        let dir = tempfile::tempdir().unwrap();
        let mut till = common::bare_lane(dir.path(), 1);
        till.login("maya", "9999").unwrap();
        let products = kasir_core::demo::products(80, 4);
        till.import_products(&products).unwrap();
        for p in &products {
            till.receive_stock(&p.sku, Decimal::from(100), None, None)
                .unwrap();
        }
        till.open_shift(Decimal::from(100_000)).unwrap();
        let gate = WriteGate::new();
        till.share_writes(gate.clone(), Priority::Till);
        let replica = Replica::open(
            dir.path().join("lane1.db"),
            common::options_seeded(common::clock(), 500),
            gate.clone(),
        )
        .unwrap();
        let mut peer = common::bare_lane(dir.path(), 2);
        peer.login("maya", "9999").unwrap();
        peer.open_shift(Decimal::from(100_000)).unwrap();
        let mut s = Store {
            till,
            replica,
            r_engine: SyncEngine::new(),
            peer,
            p_engine: SyncEngine::new(),
            net: MemNet::new(3, LinkConfig::hostile()),
            store: true,
            gate,
            _dir: dir,
        };
        let now = s.net.now();
        let out = s.r_engine.connected(PeerId(B.into()), &mut s.replica, now);
        s.send(A, out);
        let out = s.p_engine.connected(PeerId(A.into()), &mut s.peer, now);
        s.send(B, out);
        s
    }

    fn send(&mut self, from: &str, out: Vec<Output>) {
        for o in out {
            if let Output::Send { to, message } = o {
                self.net.send(&PeerId(from.into()), &to, message.encode());
            }
        }
    }

    /// What each till committed is offered to the other side (lane 1's through its replica).
    fn offer(&mut self) {
        let now = self.net.now();
        let docs = self.till.take_changed_documents();
        let out = self.r_engine.local_change(&docs, &mut self.replica, now);
        self.send(A, out);
        let docs = self.peer.take_changed_documents();
        let out = self.p_engine.local_change(&docs, &mut self.peer, now);
        self.send(B, out);
    }

    fn run_for(&mut self, span: Duration) {
        let end = self.net.now() + span;
        while self.net.now() < end {
            let until = (self.net.now() + Duration::from_millis(50)).min(end);
            while let Some(m) = self.net.next_before(until) {
                let now = self.net.now();
                if m.to.0 == A {
                    let mut out = self
                        .r_engine
                        .received(&m.from, &m.bytes, &mut self.replica, now);
                    let docs = kasir_core::lane::LaneStore::take_changed(&mut self.replica);
                    out.extend(self.r_engine.local_change(&docs, &mut self.replica, now));
                    self.send(A, out);
                } else {
                    let mut out = self
                        .p_engine
                        .received(&m.from, &m.bytes, &mut self.peer, now);
                    let docs = self.peer.take_changed_documents();
                    out.extend(self.p_engine.local_change(&docs, &mut self.peer, now));
                    self.send(B, out);
                }
            }
            let now = self.net.now();
            if self.store && self.replica.has_received() {
                self.replica.store_received().unwrap();
                let docs = kasir_core::lane::LaneStore::take_changed(&mut self.replica);
                let out = self.r_engine.local_change(&docs, &mut self.replica, now);
                self.send(A, out);
            }
            let out = self.r_engine.tick(&mut self.replica, now);
            self.send(A, out);
            let out = self.p_engine.tick(&mut self.peer, now);
            self.send(B, out);
        }
    }

    fn settle(&mut self) {
        for _ in 0..300 {
            self.offer();
            self.run_for(Duration::from_millis(200));
            let pending = self
                .r_engine
                .peers()
                .map(|p| self.r_engine.pending_with(p))
                .sum::<usize>()
                + self
                    .p_engine
                    .peers()
                    .map(|p| self.p_engine.pending_with(p))
                    .sum::<usize>();
            if pending == 0 && self.net.in_flight() == 0 {
                return;
            }
        }
        panic!("no convergence");
    }

    /// Both handles of lane 1 and lane 2 hold the same heads of every document, and the same
    /// stock and sales.
    fn assert_coherent(&mut self, sales: i64) {
        let manifest = self.peer.document_manifest().unwrap();
        assert_eq!(self.till.document_manifest().unwrap(), manifest);
        for (name, _) in &manifest {
            let mine = self.till.document_heads(name.as_str()).unwrap();
            let replica = DocAccess::heads(&mut self.replica, name).unwrap();
            let peer = self.peer.document_heads(name.as_str()).unwrap();
            assert_eq!(mine, replica, "{name}: till and replica differ");
            assert_eq!(mine, peer, "{name}: lanes differ");
        }
        assert_eq!(
            common::stock_by_sku(&self.till),
            common::stock_by_sku(&self.peer)
        );
        for t in [&self.till, &self.peer] {
            let n: i64 = t
                .connection()
                .query_row("SELECT count(*) FROM transactions", [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, sales);
            assert!(t.stock_discrepancies().unwrap().is_empty());
        }
    }
}

fn sell(t: &mut Till, sku: &str) {
    t.add_sku(sku, Decimal::ONE).unwrap();
    t.pay(&[Tender::cash(Decimal::from(1_000_000))]).unwrap();
}

#[test]
fn the_till_and_its_replica_edit_the_same_documents_and_stay_coherent() {
    let mut s = Store::new();
    s.settle();
    s.assert_coherent(0);
    // Interleaved: the till sells, the peer sells, both change prices in the same catalog
    // shard (the till's edit lands on a document its replica merged into meanwhile).
    let shard = |sku: &str| kasir_core::docs::DocId::catalog_for(sku);
    let (x, y) = (0..80)
        .flat_map(|i| (0..80).map(move |j| (i, j)))
        .map(|(i, j)| (format!("P{i:06}"), format!("P{j:06}")))
        .find(|(x, y)| x != y && shard(x) == shard(y) && !x.ends_with("00"))
        .unwrap();
    for round in 0..30 {
        sell(&mut s.till, &format!("P{:06}", round % 80 + 1));
        sell(&mut s.peer, &format!("P{:06}", (round * 7) % 80 + 1));
        if round == 10 {
            s.peer
                .set_store_price(&x, Decimal::from(4_321), None)
                .unwrap();
            s.offer();
            s.run_for(Duration::from_millis(300));
            s.till
                .set_store_price(&y, Decimal::from(1_234), None)
                .unwrap();
        }
        if round == 20 {
            // A compaction folds the change rows the replica has cached.
            s.till.maintenance().unwrap();
        }
        s.offer();
        s.run_for(Duration::from_millis(40));
    }
    s.settle();
    s.assert_coherent(60);
    for t in [&s.till, &s.peer] {
        assert_eq!(t.product(&x).unwrap().unwrap().price, Decimal::from(4_321));
        assert_eq!(t.product(&y).unwrap().unwrap().price, Decimal::from(1_234));
    }
    // The till's change rows and the replica's merges are one consistent history: a fresh
    // handle loads the file to the same heads.
    let mut fresh =
        Till::open(s.till.path(), common::options_seeded(common::clock(), 900)).unwrap();
    for (name, _) in s.peer.document_manifest().unwrap() {
        assert_eq!(
            fresh.document_heads(name.as_str()).unwrap(),
            s.peer.document_heads(name.as_str()).unwrap()
        );
    }
    let _: Vec<DocName> = fresh.take_changed_documents();
}

#[test]
fn the_till_sells_on_its_thread_while_the_replica_merges_on_another() {
    let mut s = Store::new();
    s.settle();
    let Store {
        mut till,
        replica,
        r_engine,
        mut peer,
        p_engine,
        net,
        store,
        gate,
        _dir,
    } = s;
    // The peer sells 150 first; the replica merges them while the till sells 150 of its own.
    for k in 0..150 {
        sell(&mut peer, &format!("P{:06}", k % 80));
    }
    let seller = std::thread::spawn(move || {
        for k in 0..150 {
            sell(&mut till, &format!("P{:06}", (k * 3) % 80));
        }
        till
    });
    // A handle on a scratch file stands in for the till while it sells on its thread.
    let mut s = Store {
        till: Till::open(
            _dir.path().join("scratch.db"),
            common::options_seeded(common::clock(), 77),
        )
        .unwrap(),
        replica,
        r_engine,
        peer,
        p_engine,
        net,
        store,
        gate,
        _dir,
    };
    // Replicate with the peer while the seller runs (the replica's writes wait for the till's).
    for _ in 0..40 {
        s.offer();
        s.run_for(Duration::from_millis(100));
    }
    s.till = seller.join().unwrap();
    s.settle();
    s.assert_coherent(300);
}

#[test]
fn the_replica_stores_what_it_received_in_batches_and_a_failed_store_starts_the_sync_over() {
    let mut s = Store::new();
    s.settle();
    s.store = false;
    for k in 0..20 {
        sell(&mut s.peer, &format!("P{:06}", k % 80));
    }
    s.offer();
    s.run_for(Duration::from_secs(2));
    let day = s
        .peer
        .document_names()
        .unwrap()
        .into_iter()
        .find(|n| n.starts_with("ledger/") && n.ends_with("/002"))
        .unwrap();
    let day = DocName::new(day).unwrap();
    // Applied in memory: the replica answers with the new heads, nothing is stored yet.
    assert!(s.replica.has_received());
    assert_eq!(
        DocAccess::heads(&mut s.replica, &day).unwrap(),
        s.peer.document_heads(day.as_str()).unwrap()
    );
    let sales = |t: &Till| -> i64 {
        t.connection()
            .query_row("SELECT count(*) FROM transactions", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(sales(&s.till), 0);
    // Storing fails (another process holds the lane file's write lock): what was received is
    // forgotten, and the sessions start over.
    let blocker = rusqlite::Connection::open(s.till.path()).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    assert!(s.replica.store_received().is_err());
    assert!(!s.replica.has_received());
    assert!(DocAccess::heads(&mut s.replica, &day).unwrap().is_empty());
    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);
    s.store = true;
    let now = s.net.now();
    let out = s
        .r_engine
        .start_over(&kasir_core::sync::PeerId(B.into()), &mut s.replica, now);
    s.send(A, out);
    s.settle();
    s.assert_coherent(20);
    // One batch of 20 sales: a handful of change rows, not one per message.
    let rows: i64 = s
        .till
        .connection()
        .query_row(
            "SELECT count(*) FROM crdt_changes WHERE doc_id = ?1",
            [day.as_str()],
            |r| r.get(0),
        )
        .unwrap();
    assert!(rows < 20, "{rows} change rows for 20 sales");
}

/// A peer's changes the replica holds in memory, not stored yet, are stored and projected
/// even when the till compacted that document meanwhile (the replica reads it again): before,
/// the store found nothing new to project, and the lanes disagreed for good while their
/// documents matched (lan_bench saw two lanes stuck 537 sales short of the third).
#[test]
fn changes_received_but_not_stored_survive_the_till_compacting_the_document() {
    let mut s = Store::new();
    s.settle();
    let shard = |sku: &str| kasir_core::docs::DocId::catalog_for(sku);
    let (x, y) = (0..80)
        .flat_map(|i| (0..80).map(move |j| (i, j)))
        .map(|(i, j)| (format!("P{i:06}"), format!("P{j:06}")))
        .find(|(x, y)| x != y && shard(x) == shard(y))
        .unwrap();
    let doc = DocName::new(shard(&x).name()).unwrap();
    // The peer changes x's price; the replica holds the change in memory only.
    s.store = false;
    s.peer
        .set_store_price(&x, Decimal::from(4_321), None)
        .unwrap();
    s.offer();
    s.run_for(Duration::from_secs(2));
    assert!(s.replica.has_received());
    let held = DocAccess::heads(&mut s.replica, &doc).unwrap();
    assert_eq!(held, s.peer.document_heads(doc.as_str()).unwrap());
    // Meanwhile the till edits the same document often enough to compact it.
    for k in 0..kasir_core::docs::COMPACT_AFTER {
        s.till
            .set_store_price(&y, Decimal::from(1_000 + k), None)
            .unwrap();
    }
    assert!(s.till.maintenance().unwrap() >= 1);
    // The replica stores and projects what it received.
    s.replica.store_received().unwrap();
    assert_eq!(
        s.till.product(&x).unwrap().unwrap().price,
        Decimal::from(4_321)
    );
    s.store = true;
    s.settle();
    s.assert_coherent(0);
    for t in [&s.till, &s.peer] {
        assert_eq!(t.product(&x).unwrap().unwrap().price, Decimal::from(4_321));
        assert_eq!(
            t.product(&y).unwrap().unwrap().price,
            Decimal::from(1_000 + kasir_core::docs::COMPACT_AFTER - 1)
        );
    }
}

/// A busy lane sends every one of its own sales while the till compacts its ledger document
/// between customers (the replica reads that document from the ledger file the till writes).
#[test]
fn a_busy_lane_sends_all_its_sales_while_the_till_compacts_its_ledger() {
    let mut s = Store::new();
    s.settle();
    let mut sold = 0;
    for round in 0..900 {
        sell(&mut s.till, &format!("P{:06}", round % 80));
        sold += 1;
        if round % 50 == 49 {
            s.till.maintenance().unwrap();
        }
        if round % 3 == 0 {
            s.offer();
            s.run_for(Duration::from_millis(5));
        }
    }
    s.settle();
    s.assert_coherent(sold);
}

#[test]
fn a_sales_projections_do_not_wait_for_a_merge_in_progress_nor_let_the_next_one_start() {
    use kasir_core::db::File;
    let dir = tempfile::tempdir().unwrap();
    let mut till = common::bare_lane(dir.path(), 1);
    till.login("maya", "9999").unwrap();
    till.import_products(&kasir_core::demo::products(5, 1))
        .unwrap();
    till.receive_stock("P000001", Decimal::from(10), None, None)
        .unwrap();
    till.open_shift(Decimal::ZERO).unwrap();
    let gate = WriteGate::new();
    till.share_writes(gate.clone(), Priority::Till);
    let stock = |t: &Till| t.product("P000001").unwrap().unwrap().stock;
    let other = |t: &Till| t.product("P000002").unwrap().unwrap().stock;
    let other_before = other(&till);

    // A merge is writing the lane file when the sale is paid.
    let merge = gate.enter(File::Main, Priority::Replica);
    till.add_sku("P000001", Decimal::from(3)).unwrap();
    till.commit_sale(&[Tender::cash(Decimal::from(1_000_000))])
        .unwrap();
    assert!(till.has_unprojected());
    // Projecting does not wait for the merge; the cashier scans the next customer's items.
    assert_eq!(till.try_project_pending().unwrap(), None);
    till.add_sku("P000002", Decimal::ONE).unwrap();
    assert_eq!(stock(&till), Decimal::from(10), "not projected yet");
    drop(merge);
    // The till kept its place: the next merge does not start before the projections.
    assert!(gate.try_enter(File::Main, Priority::Replica).is_none());
    assert_eq!(till.try_project_pending().unwrap(), Some(1));
    assert!(!till.has_unprojected());
    assert_eq!(stock(&till), Decimal::from(7));
    assert!(gate.try_enter(File::Main, Priority::Replica).is_some());

    // The next sale does not wait for the merge either, nor for the last one's projections:
    // it touches the ledger file only. (The merge holds its turn on another thread, until
    // told or 10 s pass.)
    let merge = hold_turn(&gate, Duration::from_secs(10));
    // (the cart holds P000002, scanned above)
    till.commit_sale(&[Tender::cash(Decimal::from(1_000_000))])
        .unwrap();
    assert_eq!(till.try_project_pending().unwrap(), None);
    till.add_sku("P000001", Decimal::ONE).unwrap();
    till.commit_sale(&[Tender::cash(Decimal::from(1_000_000))])
        .unwrap();
    assert!(!merge.end(), "the second sale waited for the merge");
    assert_eq!(other(&till), other_before, "not projected yet");
    assert_eq!(till.try_project_pending().unwrap(), Some(2));
    assert_eq!(other(&till), other_before - Decimal::ONE);
    assert_eq!(stock(&till), Decimal::from(6));

    // With a customer attached, the sale reads the customer's points: the projections before
    // it are written first, waiting for the merge in progress (30 ms).
    let rina = till
        .create_customer(common::member("Rina", "0812 1111 2222"))
        .unwrap();
    let merge = hold_turn(&gate, Duration::from_secs(10));
    till.add_sku("P000001", Decimal::ONE).unwrap();
    till.commit_sale(&[Tender::cash(Decimal::from(1_000_000))])
        .unwrap();
    assert_eq!(till.try_project_pending().unwrap(), None);
    let merge_ends = std::thread::spawn(move || {
        #[allow(clippy::disallowed_methods)] // a test of threads needs real time
        std::thread::sleep(Duration::from_millis(30));
        merge.end()
    });
    till.attach_customer(rina.id).unwrap();
    till.add_sku("P000001", Decimal::ONE).unwrap();
    till.commit_sale(&[Tender::cash(Decimal::from(1_000_000))])
        .unwrap();
    assert!(!merge_ends.join().unwrap());
    assert_eq!(
        stock(&till),
        Decimal::from(5),
        "the sale before was projected first"
    );
    till.project_pending().unwrap();
    assert_eq!(stock(&till), Decimal::from(4));
    // A till that goes away gives its place up.
    let merge = gate.enter(File::Main, Priority::Replica);
    till.add_sku("P000001", Decimal::ONE).unwrap();
    till.commit_sale(&[Tender::cash(Decimal::from(1_000_000))])
        .unwrap();
    assert_eq!(till.try_project_pending().unwrap(), None);
    drop(merge);
    drop(till);
    assert!(gate.try_enter(File::Main, Priority::Replica).is_some());
}

/// A merge's turn at the lane file, held on a thread of its own until [`HeldTurn::end`] or
/// until `at_most` passes.
struct HeldTurn {
    end: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<bool>,
}

impl HeldTurn {
    /// Ends the turn; whether it had already ended on its own (`at_most` passed).
    fn end(self) -> bool {
        let _ = self.end.send(());
        self.thread.join().unwrap()
    }
}

fn hold_turn(gate: &std::sync::Arc<WriteGate>, at_most: Duration) -> HeldTurn {
    let (held, holding) = std::sync::mpsc::channel();
    let (end, ending) = std::sync::mpsc::channel::<()>();
    let gate = gate.clone();
    let thread = std::thread::spawn(move || {
        let _turn = gate.enter(kasir_core::db::File::Main, Priority::Replica);
        held.send(()).unwrap();
        ending.recv_timeout(at_most).is_err()
    });
    holding.recv().unwrap();
    HeldTurn { end, thread }
}

/// While the replica keeps the lane file (as the LAN driver has it do), the till's
/// housekeeping folds and checkpoints only the ledger file, and the replica's upkeep folds the
/// lane file's documents; both handles and the peer stay coherent. Once that replica is gone,
/// the till folds the lane file again.
#[test]
fn the_replica_keeps_the_lane_file_and_the_till_its_ledger_file() {
    use kasir_core::docs::{COMPACT_AFTER, DocId};
    let mut s = Store::new();
    s.settle();
    s.replica.keep_lane_file();
    let catalog = DocId::catalog_for("P000001").name();
    let changes = |t: &Till| -> i64 {
        t.connection()
            .query_row(
                "SELECT count(*) FROM crdt_changes WHERE doc_id = ?1",
                [&catalog],
                |r| r.get(0),
            )
            .unwrap()
    };
    // The peer changes a price; the replica holds the change in memory, not stored yet.
    s.store = false;
    s.peer
        .set_store_price("P000002", Decimal::from(4_321), None)
        .unwrap();
    s.offer();
    s.run_for(Duration::from_secs(2));
    assert!(s.replica.has_received());
    for k in 0..COMPACT_AFTER {
        s.till
            .set_store_price("P000001", Decimal::from(1_000 + k), None)
            .unwrap();
    }
    for round in 0..COMPACT_AFTER {
        sell(&mut s.till, &format!("P{:06}", 10 + round % 50));
    }
    // The till folds its ledger document, and leaves the catalog to the replica.
    assert!(s.till.maintenance().unwrap() >= 1);
    assert!(changes(&s.till) >= COMPACT_AFTER);
    // The replica stores what it holds, then folds.
    assert!(s.replica.upkeep().unwrap() >= 1);
    assert!(!s.replica.has_received());
    assert_eq!(changes(&s.till), 0);
    assert_eq!(
        s.till.product("P000002").unwrap().unwrap().price,
        Decimal::from(4_321)
    );
    s.store = true;
    s.settle();
    s.assert_coherent(COMPACT_AFTER);
    for t in [&s.till, &s.peer] {
        assert_eq!(
            t.product("P000001").unwrap().unwrap().price,
            Decimal::from(1_000 + COMPACT_AFTER - 1)
        );
        assert_eq!(
            t.product("P000002").unwrap().unwrap().price,
            Decimal::from(4_321)
        );
    }
    // Another replica that does not keep the lane file: the till folds it again.
    let path = s._dir.path().join("lane1.db");
    s.replica = Replica::open(
        path,
        common::options_seeded(common::clock(), 501),
        s.gate.clone(),
    )
    .unwrap();
    for k in 0..COMPACT_AFTER {
        s.till
            .set_store_price("P000001", Decimal::from(2_000 + k), None)
            .unwrap();
    }
    assert!(changes(&s.till) >= COMPACT_AFTER);
    assert!(s.till.maintenance().unwrap() >= 1);
    assert_eq!(changes(&s.till), 0);
}
