//! The core is deterministic in its environment (issue #10): a scripted store day on two lanes
//! — sales in cash, by card and split, a loyalty customer, a refund, pay-out and shift close,
//! an HQ adjustment, a price change, both lanes merging over a lossy in-memory network — run
//! twice with the same seed in two fresh directories gives byte-identical document heads and
//! identical rows in every table; another seed gives other ids.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::Duration as Minutes;
use common::*;
use kasir_core::memnet::{LinkConfig, MemNet};
use kasir_core::returns::ReturnItem;
use kasir_core::schema::domain::{MovementId, MovementType, ReferenceType, StockMovement};
use kasir_core::schema::payment::{PaymentMethod, Tender};
use kasir_core::schema::roles::Permission;
use kasir_core::shift::CashMove;
use kasir_core::sync::{Output, PeerId, SyncEngine};
use kasir_core::{Clock, Env, Till};

/// What a run leaves behind on one lane.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// Every document with its heads (hex), in name order.
    heads: Vec<(String, Vec<String>)>,
    /// Every row of every table, as text, by table.
    tables: BTreeMap<String, Vec<String>>,
    sale_ids: Vec<String>,
}

fn outcome(till: &mut Till) -> Outcome {
    let mut heads = Vec::new();
    for name in till.document_names().unwrap() {
        let h = till.document_heads(&name).unwrap();
        heads.push((name, h.iter().map(ToString::to_string).collect()));
    }
    let mut dump = BTreeMap::new();
    // Both files of the lane.
    for (file, conn) in [
        ("", till.connection()),
        ("ledger.", till.ledger_connection()),
    ] {
        let tables: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table'
                 AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'products_fts%' ORDER BY name",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for t in tables {
            let mut stmt = conn
                .prepare(&format!("SELECT * FROM {t} ORDER BY 1"))
                .unwrap();
            let n = stmt.column_count();
            let rows: Vec<String> = stmt
                .query_map([], |r| {
                    let mut cells = Vec::new();
                    for i in 0..n {
                        let v: rusqlite::types::Value = r.get(i)?;
                        cells.push(format!("{v:?}"));
                    }
                    Ok(cells.join("|"))
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            dump.insert(format!("{file}{t}"), rows);
        }
    }
    let conn = till.connection();
    let sale_ids = conn
        .prepare("SELECT sale_id FROM transactions ORDER BY transaction_number")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    Outcome {
        heads,
        tables: dump,
        sale_ids,
    }
}

/// Runs the two engines over `net` until nothing is in flight and nothing is pending.
fn settle(lanes: &mut [(PeerId, Till, SyncEngine)], net: &mut MemNet) {
    let send = |net: &mut MemNet, from: &PeerId, out: Vec<Output>| {
        for o in out {
            if let Output::Send { to, message } = o {
                net.send(from, &to, message.encode());
            }
        }
    };
    for (id, till, engine) in lanes.iter_mut() {
        let docs = till.take_changed_documents();
        let out = engine.local_change(&docs, till, net.now());
        send(net, id, out);
    }
    for _ in 0..600 {
        let until = net.now() + Duration::from_millis(100);
        while let Some(m) = net.next_before(until) {
            let now = net.now();
            let (id, till, engine) = lanes.iter_mut().find(|l| l.0 == m.to).unwrap();
            let mut out = engine.received(&m.from, &m.bytes, till, now);
            let docs = till.take_changed_documents();
            out.extend(engine.local_change(&docs, till, now));
            send(net, id, out);
        }
        for (id, till, engine) in lanes.iter_mut() {
            let out = engine.tick(till, net.now());
            send(net, id, out);
        }
        let pending: usize = lanes
            .iter()
            .map(|(_, _, e)| e.peers().map(|p| e.pending_with(p)).sum::<usize>())
            .sum();
        if pending == 0 && net.in_flight() == 0 {
            return;
        }
    }
    panic!("the two lanes did not settle");
}

/// One scripted day of store JKT01 with lanes 1 and 2, every lane's randomness from `seed`.
fn run(dir: &Path, seed: u64) -> Vec<Outcome> {
    let clock = clock();
    let mut one = store_lane_seeded(dir, clock.clone(), 1, seed * 10 + 1);
    let mut two = set_up_lane(dir, 2, options_seeded(clock.clone(), seed * 10 + 2));
    let hq_ids = Env::seeded(clock.clone(), seed * 10 + 9);

    let mut lanes = vec![
        (PeerId("lane-1".into()), one, SyncEngine::new()),
        (PeerId("lane-2".into()), two, SyncEngine::new()),
    ];
    let mut net = MemNet::new(seed, LinkConfig::hostile());
    let now = net.now();
    for i in 0..2 {
        let peer = lanes[1 - i].0.clone();
        let (id, till, engine) = &mut lanes[i];
        let out = engine.connected(peer, till, now);
        for o in out {
            if let Output::Send { to, message } = o {
                net.send(id, &to, message.encode());
            }
        }
    }
    settle(&mut lanes, &mut net);

    // Lane 1: a cashier's shift.
    {
        let till = &mut lanes[0].1;
        cashier_on_shift(till);
        till.scan("8998866200301").unwrap();
        till.scan("036000291452").unwrap();
        till.pay(&[Tender::cash(d(20_000))]).unwrap();
        clock.advance(Minutes::seconds(47));
        till.add_sku("TEH-BTL-350", d(4)).unwrap();
        let mut card = Tender::new(PaymentMethod::Card, d(10_000));
        card.reference = Some("APPR-1".into());
        till.pay(&[card, Tender::cash(d(10_000))]).unwrap();
        clock.advance(Minutes::seconds(31));
        let member = till
            .create_customer(member("Rina", "0812 1111 2222"))
            .unwrap();
        till.add_sku("KOP-KAP-200", d(8)).unwrap();
        till.attach_customer(member.id).unwrap();
        let r = till
            .pay(&[Tender::new(PaymentMethod::EWallet, d(100_000))])
            .unwrap();
        clock.advance(Minutes::minutes(3));
        let ok = till
            .approve(SUPERVISOR.0, SUPERVISOR.1, Permission::Refund)
            .unwrap();
        till.refund(
            &r.number,
            &[ReturnItem {
                line_no: 1,
                quantity: d(2),
            }],
            PaymentMethod::Cash,
            Some("rusak".into()),
            Some(&ok),
        )
        .unwrap();
        let ok = till
            .approve(SUPERVISOR.0, SUPERVISOR.1, Permission::CashInOut)
            .unwrap();
        till.cash_move(CashMove::PayOut, d(15_000), "es batu", Some(&ok))
            .unwrap();
    }
    settle(&mut lanes, &mut net);

    // Lane 2 sells what arrived; HQ's adjustment reaches both lanes (applied by both).
    {
        let till = &mut lanes[1].1;
        till.login(MANAGER.0, MANAGER.1).unwrap();
        till.open_shift(d(100_000)).unwrap();
        clock.advance(Minutes::seconds(12));
        till.add_sku("IDM-GRG-85", d(6)).unwrap();
        till.pay(&[Tender::cash(d(50_000))]).unwrap();
        till.set_store_price("IDM-GRG-85", d(3_700), None).unwrap();
    }
    let adjustment = StockMovement {
        id: MovementId(hq_ids.new_id()),
        store: lanes[0].1.config().unwrap().code.clone(),
        sku: "TEH-BTL-350".into(),
        movement_type: MovementType::Adjustment,
        reference_type: ReferenceType::Adjustment,
        quantity: d(-3),
        sale: None,
        notes: Some("HQ count".into()),
        created_by: None,
        created_at: clock.now(),
    };
    for (_, till, _) in &mut lanes {
        till.apply_external_movement(&adjustment).unwrap();
    }
    settle(&mut lanes, &mut net);
    {
        let till = &mut lanes[0].1;
        clock.advance(Minutes::hours(7));
        let ok = till
            .approve(SUPERVISOR.0, SUPERVISOR.1, Permission::CloseShift)
            .unwrap();
        till.close_shift(d(520_000), Some(&ok)).unwrap();
        till.maintenance().unwrap();
    }
    settle(&mut lanes, &mut net);
    one = lanes.remove(0).1;
    two = lanes.remove(0).1;
    vec![outcome(&mut one), outcome(&mut two)]
}

#[test]
fn the_same_seed_replays_byte_for_byte_and_another_seed_does_not() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let first = run(a.path(), 42);
    let again = run(b.path(), 42);
    let other = run(c.path(), 43);

    // The two lanes merged: the same documents, heads and sales on both.
    assert_eq!(first[0].heads, first[1].heads);
    assert_eq!(first[0].sale_ids, first[1].sale_ids);
    assert_eq!(first[0].sale_ids.len(), 4);

    for lane in 0..2 {
        assert_eq!(first[lane].heads, again[lane].heads, "lane {}", lane + 1);
        for (table, rows) in &first[lane].tables {
            assert_eq!(
                rows,
                &again[lane].tables[table],
                "lane {}: table {table} differs between two runs of one seed",
                lane + 1
            );
        }
        assert_eq!(first[lane].tables, again[lane].tables);
        assert!(
            !first[lane].tables["transactions"].is_empty()
                && !first[lane].tables["crdt_changes"].is_empty()
        );
        // Another seed: other ids, other documents.
        assert_ne!(first[lane].sale_ids, other[lane].sale_ids);
        assert_ne!(first[lane].heads, other[lane].heads);
        let shared: Vec<&String> = first[lane]
            .sale_ids
            .iter()
            .filter(|id| other[lane].sale_ids.contains(id))
            .collect();
        assert!(shared.is_empty(), "{shared:?}");
    }
}
