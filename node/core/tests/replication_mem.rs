//! Lanes converge over the in-memory network (I1, I3): real `Till`s with their `SyncEngine`s,
//! messages delayed, reordered, lost, duplicated and partitioned by a seeded `MemNet`.

mod common;

use std::time::Duration;

use kasir_core::memnet::{LinkConfig, MemNet};
use kasir_core::schema::Decimal;
use kasir_core::schema::payment::Tender;
use kasir_core::sync::{Output, PeerId, SyncEngine, SyncEvent};
use kasir_core::{Till, demo};
use rand::{Rng, SeedableRng};

struct Lane {
    id: PeerId,
    till: Till,
    engine: SyncEngine,
}

struct Cluster {
    lanes: Vec<Lane>,
    net: MemNet,
    rejected: Vec<String>,
    _dir: tempfile::TempDir,
}

const TICK: Duration = Duration::from_millis(100);

impl Cluster {
    /// `n` lanes of store JKT01; lane 1 holds the catalog (200 products, 30 in stock each).
    fn new(n: u32, seed: u64, config: LinkConfig) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut lanes = Vec::new();
        for lane in 1..=n {
            let mut till = common::bare_lane(dir.path(), lane);
            till.login("maya", "9999").unwrap();
            if lane == 1 {
                let products = demo::products(200, 5);
                till.import_products(&products).unwrap();
                for p in &products {
                    till.receive_stock(&p.sku, Decimal::from(30), None, None)
                        .unwrap();
                }
            }
            till.open_shift(Decimal::from(100_000)).unwrap();
            lanes.push(Lane {
                id: PeerId(format!("lane-{lane}")),
                till,
                engine: SyncEngine::new(),
            });
        }
        Cluster {
            lanes,
            net: MemNet::new(seed, config),
            rejected: Vec::new(),
            _dir: dir,
        }
    }

    fn dispatch(&mut self, from: usize, outputs: Vec<Output>) {
        for o in outputs {
            match o {
                Output::Send { to, message } => {
                    let id = self.lanes[from].id.clone();
                    if let Ok(doc) = std::env::var("KASIR_TRACE_DOC") {
                        let (kind, d) = match &message {
                            kasir_core::sync::WireMessage::Manifest(_) => {
                                ("manifest", String::new())
                            }
                            kasir_core::sync::WireMessage::Sync { doc, data } => {
                                ("sync", format!("{doc} {}B", data.len()))
                            }
                            kasir_core::sync::WireMessage::Ack { doc, .. } => {
                                ("ack", doc.to_string())
                            }
                            kasir_core::sync::WireMessage::Announce(_) => {
                                ("announce", String::new())
                            }
                        };
                        if d.starts_with(&doc) || kind == "manifest" {
                            eprintln!("{:?} {} -> {} {kind} {d}", self.net.now(), id.0, to.0);
                        }
                    }
                    self.net.send(&id, &to, message.encode());
                }
                Output::Event(SyncEvent::Rejected { from, reason }) => {
                    self.rejected.push(format!("{}: {reason}", from.0));
                }
                Output::Event(_) => {}
            }
        }
    }

    fn connect_all(&mut self) {
        let now = self.net.now();
        for i in 0..self.lanes.len() {
            for j in 0..self.lanes.len() {
                if i != j {
                    let peer = self.lanes[j].id.clone();
                    let lane = &mut self.lanes[i];
                    let out = lane.engine.connected(peer, &mut lane.till, now);
                    self.dispatch(i, out);
                }
            }
        }
    }

    fn offer_changes(&mut self, i: usize) {
        let now = self.net.now();
        let lane = &mut self.lanes[i];
        let docs = lane.till.take_changed_documents();
        let out = lane.engine.local_change(&docs, &mut lane.till, now);
        self.dispatch(i, out);
    }

    /// Runs the network for `span` of virtual time, ticking every 100 ms.
    fn run_for(&mut self, span: Duration) {
        let end = self.net.now() + span;
        while self.net.now() < end {
            let slice_end = (self.net.now() + TICK).min(end);
            while let Some(m) = self.net.next_before(slice_end) {
                let i = self.lanes.iter().position(|l| l.id == m.to).unwrap();
                let now = self.net.now();
                let lane = &mut self.lanes[i];
                let out = lane.engine.received(&m.from, &m.bytes, &mut lane.till, now);
                self.dispatch(i, out);
                // Whatever a merge changed is offered on to the other peers too.
                self.offer_changes(i);
            }
            for i in 0..self.lanes.len() {
                let now = self.net.now();
                let lane = &mut self.lanes[i];
                let out = lane.engine.tick(&mut lane.till, now);
                self.dispatch(i, out);
            }
        }
    }

    /// Runs until nothing is in flight and every lane has converged with every peer.
    fn settle(&mut self, limit: Duration) {
        let start = self.net.now();
        loop {
            self.run_for(TICK);
            let pending: usize = self
                .lanes
                .iter()
                .map(|l| {
                    l.engine
                        .peers()
                        .map(|p| l.engine.pending_with(p))
                        .sum::<usize>()
                })
                .sum();
            if pending == 0 && self.net.in_flight() == 0 {
                return;
            }
            if self.net.now() - start >= limit {
                eprintln!(
                    "rejected: {:?}",
                    &self.rejected[..self.rejected.len().min(5)]
                );
                let mut pending_names: Vec<(PeerId, kasir_core::wire::DocName)> = Vec::new();
                for l in &mut self.lanes {
                    let peers: Vec<PeerId> = l.engine.peers().cloned().collect();
                    for p in peers {
                        for d in l.engine.pending_docs(&p) {
                            eprintln!(
                                "{} pending with {}: {d} heads {:?}",
                                l.id.0,
                                p.0,
                                l.till.document_heads(d.as_str()).unwrap()
                            );
                            pending_names.push((p.clone(), d));
                        }
                    }
                }
                for (p, d) in pending_names {
                    let l = self.lanes.iter_mut().find(|l| l.id == p).unwrap();
                    let pend = l.engine.pending_docs(&p);
                    eprintln!(
                        "  {} has {d} heads {:?} (its own pending: {pend:?})",
                        p.0,
                        l.till.document_heads(d.as_str()).unwrap()
                    );
                }
            }
            assert!(
                self.net.now() - start < limit,
                "no convergence after {limit:?}: {pending} pending, {} in flight",
                self.net.in_flight()
            );
        }
    }

    fn sell_random(&mut self, i: usize, rng: &mut impl Rng) -> String {
        let lane = &mut self.lanes[i];
        for _ in 0..rng.random_range(1..=4) {
            let sku = format!("P{:06}", rng.random_range(0..40));
            let qty = if lane.till.product(&sku).unwrap().unwrap().unit
                == kasir_core::schema::domain::SaleUnit::Kilogram
            {
                Decimal::new(500, 3)
            } else {
                Decimal::ONE
            };
            lane.till.add_sku(&sku, qty).unwrap();
        }
        let r = lane
            .till
            .pay(&[Tender::cash(Decimal::from(10_000_000))])
            .unwrap();
        self.offer_changes(i);
        r.number
    }

    fn assert_converged(&mut self) {
        let manifests: Vec<_> = self
            .lanes
            .iter()
            .map(|l| l.till.document_manifest().unwrap())
            .collect();
        for (i, m) in manifests.iter().enumerate() {
            assert_eq!(
                m,
                &manifests[0],
                "lane {} holds different documents than lane 1",
                i + 1
            );
        }
        let facts = |t: &Till| -> (Vec<String>, Vec<(String, i64)>) {
            let c = t.connection();
            let sales = c
                .prepare("SELECT sale_id FROM transactions ORDER BY sale_id")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            (sales, common::stock_by_sku(t))
        };
        let first = facts(&self.lanes[0].till);
        for (i, l) in self.lanes.iter().enumerate() {
            assert_eq!(facts(&l.till), first, "lane {} differs from lane 1", i + 1);
            assert!(
                l.till.stock_discrepancies().unwrap().is_empty(),
                "lane {}: stock ≠ Σ movements",
                i + 1
            );
            let synchronous: i64 = l
                .till
                .connection()
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap();
            assert_eq!(
                synchronous,
                2,
                "lane {}: merges left the connection without FULL durability",
                i + 1
            );
            common::assert_name_index_matches(&l.till);
        }
    }
}

#[test]
fn three_lanes_selling_at_once_converge_over_a_hostile_network() {
    for seed in 1..=4 {
        three_lanes_hostile(seed);
    }
}

#[test]
fn eight_lanes_converge() {
    let mut c = Cluster::new(8, 11, LinkConfig::lan());
    c.connect_all();
    c.settle(Duration::from_secs(120));
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    for _ in 0..5 {
        for i in 0..8 {
            c.sell_random(i, &mut rng);
        }
        c.run_for(Duration::from_millis(5));
    }
    c.settle(Duration::from_secs(120));
    c.assert_converged();
    let sales: i64 = c.lanes[7]
        .till
        .connection()
        .query_row("SELECT count(*) FROM transactions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sales, 40);
    assert!(c.rejected.is_empty(), "{:?}", c.rejected);
}

fn three_lanes_hostile(seed: u64) {
    let mut c = Cluster::new(3, seed, LinkConfig::hostile());
    c.connect_all();
    c.settle(Duration::from_secs(120));
    // The catalog reached lanes 2 and 3 through replication alone.
    assert_eq!(
        c.lanes[2].till.product("P000007").unwrap().unwrap().stock,
        Decimal::from(30)
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed + 100);
    let mut numbers = Vec::new();
    for round in 0..30 {
        for i in 0..3 {
            numbers.push(c.sell_random(i, &mut rng));
        }
        if round % 3 == 0 {
            c.run_for(Duration::from_millis(20));
        }
    }
    c.settle(Duration::from_secs(300));
    c.assert_converged();
    let sales: i64 = c.lanes[1]
        .till
        .connection()
        .query_row("SELECT count(*) FROM transactions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sales, 90);
    numbers.sort();
    numbers.dedup();
    assert_eq!(
        numbers.len(),
        90,
        "transaction numbers are unique across lanes (I5)"
    );
    assert!(c.rejected.is_empty(), "{:?}", c.rejected);
    assert!(c.net.dropped > 0, "the network did lose messages");
}

#[test]
fn a_partitioned_lane_sells_alone_and_everything_counts_after_healing() {
    let mut c = Cluster::new(3, 2, LinkConfig::lan());
    c.connect_all();
    c.settle(Duration::from_secs(60));
    let (l1, l3) = (c.lanes[0].id.clone(), c.lanes[2].id.clone());
    let l2 = c.lanes[1].id.clone();
    c.net.partition(&l3, &l1);
    c.net.partition(&l3, &l2);
    // Both sides sell the same product, 20 units each, from a stock of 30: together they
    // oversell by 10, which nobody can see until the partition heals.
    for _ in 0..20 {
        for i in [0, 2] {
            let lane = &mut c.lanes[i];
            lane.till.add_sku("P000001", Decimal::ONE).unwrap();
            lane.till
                .pay(&[Tender::cash(Decimal::from(1_000_000))])
                .unwrap();
            c.offer_changes(i);
        }
        c.run_for(Duration::from_millis(50));
    }
    assert_eq!(
        c.lanes[0].till.product("P000001").unwrap().unwrap().stock,
        Decimal::from(10)
    );
    assert_eq!(
        c.lanes[2].till.product("P000001").unwrap().unwrap().stock,
        Decimal::from(10)
    );
    c.net.heal();
    c.settle(Duration::from_secs(120));
    c.assert_converged();
    for l in &c.lanes {
        let p = l.till.product("P000001").unwrap().unwrap();
        assert_eq!(
            p.stock,
            Decimal::from(-10),
            "40 sold of 30: counted, not lost"
        );
        assert!(
            l.till
                .oversold_products()
                .unwrap()
                .iter()
                .any(|o| o.sku == "P000001")
        );
    }
}

#[test]
fn garbage_from_a_member_is_refused_and_changes_nothing() {
    let mut c = Cluster::new(2, 3, LinkConfig::lan());
    c.connect_all();
    c.settle(Duration::from_secs(60));
    let before = c.lanes[1].till.document_manifest().unwrap();
    let from = c.lanes[0].id.clone();
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let valid = kasir_core::sync::WireMessage::Sync {
        doc: kasir_core::wire::DocName::new("catalog/01").unwrap(),
        data: vec![0x42, 1, 2, 3],
    }
    .encode();
    let mut refused = 0;
    for k in 0..10_000 {
        let bytes: Vec<u8> = if k % 2 == 0 {
            (0..rng.random_range(0..80)).map(|_| rng.random()).collect()
        } else {
            let mut b = valid.clone();
            let i = rng.random_range(0..b.len());
            b[i] = rng.random();
            b
        };
        let lane = &mut c.lanes[1];
        let out = lane
            .engine
            .received(&from, &bytes, &mut lane.till, c.net.now());
        refused += out
            .iter()
            .filter(|o| matches!(o, Output::Event(SyncEvent::Rejected { .. })))
            .count();
        // Replies to garbage go nowhere (the sender is not listening).
        let _ = out;
    }
    assert!(refused > 9_000, "only {refused} of 10000 refused");
    assert_eq!(c.lanes[1].till.document_manifest().unwrap(), before);
    c.assert_converged();
}

#[test]
fn a_restarted_lane_catches_up_and_a_new_empty_lane_bootstraps_everything() {
    let mut c = Cluster::new(3, 21, LinkConfig::lan());
    c.connect_all();
    c.settle(Duration::from_secs(60));
    let mut rng = rand::rngs::StdRng::seed_from_u64(22);
    for i in 0..3 {
        c.sell_random(i, &mut rng);
    }
    c.settle(Duration::from_secs(60));
    // Lane 3 goes down (process restart: engine state lost, disk kept) while the others sell.
    let down = c.lanes[2].id.clone();
    for i in 0..2 {
        let out = c.lanes[i].engine.disconnected(&down);
        c.dispatch(i, out);
    }
    c.lanes[2].engine = SyncEngine::new();
    for _ in 0..10 {
        for i in 0..2 {
            c.sell_random(i, &mut rng);
        }
    }
    c.run_for(Duration::from_millis(200));
    c.connect_all_fresh();
    c.settle(Duration::from_secs(60));
    c.assert_converged();

    // A fourth lane with an empty disk joins and receives the catalog, stock and every sale.
    c.add_lane(4);
    c.connect_all_fresh();
    c.settle(Duration::from_secs(120));
    c.assert_converged();
    let sales: i64 = c.lanes[3]
        .till
        .connection()
        .query_row("SELECT count(*) FROM transactions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sales, 23);
}

impl Cluster {
    /// Reconnects every pair whose engines do not know each other (after a restart or a join).
    fn connect_all_fresh(&mut self) {
        let now = self.net.now();
        for i in 0..self.lanes.len() {
            for j in 0..self.lanes.len() {
                if i == j {
                    continue;
                }
                let peer = self.lanes[j].id.clone();
                if self.lanes[i].engine.peers().any(|p| *p == peer) {
                    continue;
                }
                let lane = &mut self.lanes[i];
                let out = lane.engine.connected(peer, &mut lane.till, now);
                self.dispatch(i, out);
            }
        }
    }

    fn add_lane(&mut self, lane: u32) {
        let till = common::bare_lane(self._dir.path(), lane);
        self.lanes.push(Lane {
            id: PeerId(format!("lane-{lane}")),
            till,
            engine: SyncEngine::new(),
        });
    }
}

#[test]
fn the_live_view_reports_committed_stock_and_sales_with_the_lane_they_came_from() {
    use kasir_core::docs::Origin;
    use kasir_core::live::LiveEvent;
    let mut c = Cluster::new(2, 5, LinkConfig::lan());
    c.connect_all();
    c.settle(Duration::from_secs(60));
    c.lanes[1].till.watch_live().unwrap();
    // Lane 1 sells two P000003; lane 2 sees the sale arrive and the stock fall, from lane 1.
    {
        let t = &mut c.lanes[0].till;
        t.add_sku("P000003", Decimal::from(2)).unwrap();
        t.pay(&[Tender::cash(Decimal::from(1_000_000))]).unwrap();
    }
    c.offer_changes(0);
    c.settle(Duration::from_secs(60));
    let (events, dropped) = c.lanes[1].till.take_live_events();
    assert_eq!(dropped, 0);
    let stock_3 = c.lanes[1].till.product("P000003").unwrap().unwrap().stock;
    assert_eq!(stock_3, Decimal::from(28));
    assert!(
        events.contains(&LiveEvent::StockChanged {
            sku: "P000003".into(),
            stock: Decimal::from(28),
            from: Origin::Lane(1),
        }),
        "{events:?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, LiveEvent::Sale { lane: 1, .. }))
            .count(),
        1,
        "{events:?}"
    );
    // A sale on lane 2 itself is reported as from lane 2; a refused operation reports nothing.
    {
        let t = &mut c.lanes[1].till;
        t.add_sku("P000004", Decimal::ONE).unwrap();
        t.pay(&[Tender::cash(Decimal::from(1_000_000))]).unwrap();
        assert!(t.pay(&[Tender::cash(Decimal::from(1))]).is_err());
    }
    let (events, _) = c.lanes[1].till.take_live_events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(matches!(&events[0], LiveEvent::Sale { lane: 2, .. }));
    assert_eq!(
        events[1],
        LiveEvent::StockChanged {
            sku: "P000004".into(),
            stock: Decimal::from(29),
            from: Origin::Lane(2),
        }
    );
    // Draining leaves nothing behind.
    assert!(c.lanes[1].till.take_live_events().0.is_empty());
}

#[test]
fn renames_on_two_lanes_at_once_leave_one_name_that_every_lane_finds() {
    let mut c = Cluster::new(3, 31, LinkConfig::lan());
    c.connect_all();
    c.settle(Duration::from_secs(60));
    let original = c.lanes[0].till.product("P000007").unwrap().unwrap().name;
    let renamed = |name: &str| {
        let mut p = demo::products(200, 5)
            .into_iter()
            .find(|p| p.sku == "P000007")
            .unwrap();
        p.name = name.to_string();
        p
    };
    // Lane 1 renames twice in one import (the index must end with the last name only); lane 2
    // renames the same product concurrently; lane 3 renames another one.
    c.lanes[0]
        .till
        .import_products(&[renamed("Kopi Tubruk Bima"), renamed("Kopi Tubruk Arjuna")])
        .unwrap();
    c.lanes[1]
        .till
        .import_products(&[renamed("Teh Melati Srikandi")])
        .unwrap();
    let mut other = demo::products(200, 5)
        .into_iter()
        .find(|p| p.sku == "P000011")
        .unwrap();
    other.name = "Gula Aren Nakula".into();
    c.lanes[2].till.import_products(&[other]).unwrap();
    for i in 0..3 {
        c.offer_changes(i);
    }
    c.settle(Duration::from_secs(60));
    c.assert_converged();
    let winner = c.lanes[0].till.product("P000007").unwrap().unwrap().name;
    assert!(
        winner == "Kopi Tubruk Arjuna" || winner == "Teh Melati Srikandi",
        "{winner}"
    );
    let loser = if winner.starts_with("Kopi") {
        "Srikandi"
    } else {
        "Arjuna"
    };
    let hits = |t: &Till, q: &str| -> Vec<String> {
        t.search_products(q, 10)
            .unwrap()
            .into_iter()
            .map(|p| p.sku)
            .collect()
    };
    for l in &c.lanes {
        let word = winner.split(' ').next_back().unwrap();
        assert_eq!(hits(&l.till, word), vec!["P000007"], "{winner}");
        assert!(hits(&l.till, loser).is_empty());
        assert!(hits(&l.till, "Bima").is_empty());
        assert!(hits(&l.till, &original).is_empty(), "{original}");
        assert_eq!(hits(&l.till, "Nakula"), vec!["P000011"]);
    }
}
