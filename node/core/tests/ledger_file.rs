//! A lane's two files: its own ledger documents and sequence in the ledger file, which only the
//! till writes, so a sale never waits for a merge writing the lane file.

mod common;

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use kasir_core::db::{File, ledger_path};
use kasir_core::schema::checkout::Discount;
use kasir_core::schema::payment::Tender;
use kasir_core::schema::roles::Permission;
use kasir_core::{NodeError, Priority, Till, WriteGate};

fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn remove_file_set(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

/// Lanes 1 and 2 of the store, lane 1 with its cashier on shift and one sale paid.
fn two_lanes_one_sale(dir: &Path, clock: &std::sync::Arc<kasir_core::ManualClock>) -> (Till, Till) {
    let mut lane1 = store_lane(dir, clock.clone(), 1);
    let lane2 = store_lane(dir, clock.clone(), 2);
    cashier_on_shift(&mut lane1);
    lane1.scan("8998866200301").unwrap();
    lane1.pay(&[Tender::cash(d(5_000))]).unwrap();
    (lane1, lane2)
}

/// The name of lane 1's ledger document of the day.
fn todays_ledger_of_lane_1(lane1: &mut Till) -> String {
    lane1
        .document_names()
        .unwrap()
        .into_iter()
        .find(|n| n.starts_with("ledger/") && n.ends_with("/001"))
        .unwrap()
}

#[test]
fn a_sale_is_made_durable_while_a_merge_holds_the_lane_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut till = store(dir.path(), clock());
    cashier_on_shift(&mut till);
    let gate = WriteGate::new();
    till.share_writes(gate.clone(), Priority::Till);
    // A merge is writing the lane file (and stays in it until the sale is durable).
    let merge = gate.enter(File::Main, Priority::Replica);
    let (tx, rx) = mpsc::channel();
    let seller = std::thread::spawn(move || {
        till.scan("8998866200301").unwrap();
        let receipt = till.commit_sale(&[Tender::cash(d(5_000))]);
        tx.send(receipt.map(|r| r.number)).unwrap();
        // Its projections wait for the lane file.
        till.project_pending().unwrap();
        till
    });
    let number = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the sale waited for the merge")
        .unwrap();
    assert_eq!(number, "JKT01-001-00000001");
    drop(merge);
    let till = seller.join().unwrap();
    assert_eq!(till.product("IDM-GRG-85").unwrap().unwrap().stock, d(99));
    assert!(till.stock_discrepancies().unwrap().is_empty());
}

#[test]
fn a_lane_opens_only_with_its_own_ledger_file() {
    let dir = tempfile::tempdir().unwrap();
    drop(bare_lane(dir.path(), 1));
    drop(bare_lane(dir.path(), 2));
    let lane1 = dir.path().join("lane1.db");
    let ledger1 = ledger_path(&lane1);
    // Another lane's ledger file in its place is refused.
    std::fs::rename(&ledger1, dir.path().join("saved-ledger")).unwrap();
    std::fs::copy(ledger_path(&dir.path().join("lane2.db")), &ledger1).unwrap();
    let err = Till::open(&lane1, options(clock())).unwrap_err();
    assert!(
        matches!(&err, NodeError::ForeignDatabase { detail, .. } if detail.contains("another lane file")),
        "{err}"
    );
    // A missing one too, and nothing is created in its place.
    remove_file_set(&ledger1);
    let err = Till::open(&lane1, options(clock())).unwrap_err();
    assert!(
        matches!(&err, NodeError::ForeignDatabase { detail, .. } if detail.contains("missing")),
        "{err}"
    );
    assert!(!ledger1.exists());
    // Its own opens.
    std::fs::rename(dir.path().join("saved-ledger"), &ledger1).unwrap();
    assert_eq!(reopen_lane(dir.path(), 1).lane().unwrap().get(), 1);
}

#[test]
fn a_lane_file_from_before_the_ledger_file_moves_its_own_documents_there() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut till = store(dir.path(), clock.clone());
    cashier_on_shift(&mut till);
    for _ in 0..2 {
        till.scan("8998866200301").unwrap();
        till.pay(&[Tender::cash(d(5_000))]).unwrap();
    }
    let manifest = till.document_manifest().unwrap();
    drop(till);
    // Make it a lane file as the version before kept it: its own ledger documents and the
    // sequence in the lane file, no ledger file.
    let lane1 = dir.path().join("lane1.db");
    let conn = rusqlite::Connection::open(&lane1).unwrap();
    conn.execute(
        "ATTACH DATABASE ?1 AS l",
        [ledger_path(&lane1).to_str().unwrap()],
    )
    .unwrap();
    conn.execute_batch(
        "INSERT INTO main.crdt_docs SELECT * FROM l.crdt_docs;
         INSERT INTO main.crdt_changes (doc_id, bytes, heads)
             SELECT doc_id, bytes, heads FROM l.crdt_changes ORDER BY id;
         UPDATE main.lane_state SET next_seq = (SELECT next_seq FROM l.ledger_state),
             ledger_file_id = NULL,
             projected_through = (SELECT MAX(id) FROM main.crdt_changes);",
    )
    .unwrap();
    conn.execute_batch("DETACH DATABASE l").unwrap();
    drop(conn);
    remove_file_set(&ledger_path(&lane1));

    let mut till = Till::open(&lane1, options_seeded(clock, 5)).unwrap();
    assert_eq!(till.document_manifest().unwrap(), manifest);
    assert_eq!(
        count(
            till.connection(),
            "SELECT count(*) FROM crdt_changes WHERE doc_id LIKE 'ledger/%/001'"
        ) + count(
            till.connection(),
            "SELECT count(*) FROM crdt_docs WHERE doc_id LIKE 'ledger/%/001'"
        ),
        0,
        "own ledger documents left in the lane file"
    );
    assert!(
        count(
            till.ledger_connection(),
            "SELECT count(*) FROM crdt_changes WHERE doc_id LIKE 'ledger/%/001'"
        ) > 0
    );
    till.sale_by_number("JKT01-001-00000002").unwrap();
    till.login(CASHIER.0, CASHIER.1).unwrap();
    till.scan("8998866200301").unwrap();
    let r = till.pay(&[Tender::cash(d(5_000))]).unwrap();
    assert_eq!(r.number, "JKT01-001-00000003");
    let diag = till.diagnostics().unwrap();
    assert_eq!(diag.sales, 3);
    assert!(diag.stock_discrepancies.is_empty());
    // Opening again moves nothing twice.
    drop(till);
    let till = reopen_lane(dir.path(), 1);
    assert_eq!(till.diagnostics().unwrap().sales, 3);
}

#[test]
fn approvals_given_for_a_sale_survive_a_stop_before_its_projection() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut till = store(dir.path(), clock.clone());
    cashier_on_shift(&mut till);
    till.scan("8998866200301").unwrap();
    let ok = till
        .approve(SUPERVISOR.0, SUPERVISOR.1, Permission::DiscountAboveLimit)
        .unwrap();
    till.set_line_discount(0, Some(Discount::Percent(d(50))), Some(&ok))
        .unwrap();
    let r = till.commit_sale(&[Tender::cash(d(5_000))]).unwrap();
    drop(till); // before its projections
    let approved = |till: &Till| {
        count(
            till.connection(),
            &format!(
                "SELECT count(*) FROM system_logs WHERE approved_by IS NOT NULL
                 AND context_json LIKE '%{}%'",
                r.number
            ),
        )
    };
    let till = Till::open(dir.path().join("lane1.db"), options_seeded(clock, 9)).unwrap();
    assert_eq!(approved(&till), 1);
    drop(till);
    assert_eq!(approved(&reopen_lane(dir.path(), 1)), 1, "copied once");
}

#[test]
fn a_lane_restored_from_an_older_copy_takes_back_its_sales_and_never_reuses_their_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    let clock = clock();
    let (lane1, mut lane2) = two_lanes_one_sale(dir.path(), &clock);
    drop(lane1);
    let lane1_path = dir.path().join("lane1.db");
    for path in [lane1_path.clone(), ledger_path(&lane1_path)] {
        std::fs::copy(&path, backup.path().join(path.file_name().unwrap())).unwrap();
    }
    let mut lane1 = Till::open(&lane1_path, options_seeded(clock.clone(), 11)).unwrap();
    lane1.login(CASHIER.0, CASHIER.1).unwrap();
    lane1.scan("8998866200301").unwrap();
    let second = lane1.pay(&[Tender::cash(d(5_000))]).unwrap();
    let day = todays_ledger_of_lane_1(&mut lane1);
    lane2
        .merge_remote(&day, &lane1.export_document(&day).unwrap())
        .unwrap();
    drop(lane1);
    // The lane's disk dies; yesterday's copy comes back.
    for path in [lane1_path.clone(), ledger_path(&lane1_path)] {
        remove_file_set(&path);
        std::fs::copy(backup.path().join(path.file_name().unwrap()), &path).unwrap();
    }
    let mut lane1 = Till::open(&lane1_path, options_seeded(clock, 12)).unwrap();
    assert!(lane1.sale_by_number(&second.number).is_err());
    let out = lane1
        .merge_remote(&day, &lane2.export_document(&day).unwrap())
        .unwrap();
    assert_eq!(out.new_sales, 1);
    assert_eq!(
        lane1.sale_by_number(&second.number).unwrap().id,
        second.sale_id
    );
    lane1.login(CASHIER.0, CASHIER.1).unwrap();
    lane1.scan("8998866200301").unwrap();
    let third = lane1.pay(&[Tender::cash(d(5_000))]).unwrap();
    assert_eq!(third.number, "JKT01-001-00000003");
    assert!(lane1.stock_discrepancies().unwrap().is_empty());
    // Nothing was left half projected.
    assert_eq!(
        count(lane1.connection(), "SELECT count(*) FROM unprojected_docs"),
        0
    );
}

#[test]
fn the_projection_mark_counts_compacted_change_rows_so_a_restart_projects_nothing_again() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut till = store(dir.path(), clock.clone());
    let cfg = till.config().unwrap().clone();
    // A day of this lane's sales, imported: stored, projected, then compacted into snapshots
    // (no change row of them is left).
    let products = catalog();
    let sales = kasir_core::demo::sales(&kasir_core::demo::SalesPlan {
        catalog: &products,
        store: cfg.code.clone(),
        lane: till.lane().unwrap(),
        first_seq: 1,
        days: 1,
        per_day: 20,
        until: kasir_core::Clock::now(clock.as_ref()),
        seed: 3,
    })
    .unwrap();
    till.import_sales(&sales).unwrap();
    let rows = |till: &Till| {
        count(
            till.ledger_connection(),
            "SELECT count(*) FROM crdt_changes",
        )
    };
    assert_eq!(rows(&till), 0);
    drop(till);
    let till = reopen_lane(dir.path(), 1);
    let mark = count(
        till.connection(),
        "SELECT projected_through FROM lane_state",
    );
    let last = count(
        till.ledger_connection(),
        "SELECT seq FROM sqlite_sequence WHERE name = 'crdt_changes'",
    );
    let folded = count(
        till.ledger_connection(),
        "SELECT MAX(through_change) FROM crdt_docs",
    );
    assert!(last > 0 && folded > 0);
    assert_eq!(mark, last, "the mark is the last row ever written");
    assert!(mark >= folded, "every folded row counts as projected");
    assert_eq!(till.diagnostics().unwrap().sales, 20);
}

#[test]
fn a_held_sale_whose_move_a_power_cut_took_back_is_moved_again_as_the_same_change() {
    let dir = tempfile::tempdir().unwrap();
    let cut = tempfile::tempdir().unwrap();
    let clock = clock();
    let (mut lane1, mut lane2) = two_lanes_one_sale(dir.path(), &clock);
    lane1.scan("8998866200301").unwrap();
    let held = lane1.commit_sale(&[Tender::cash(d(5_000))]).unwrap();
    // What the disk holds for certain: everything up to the sale's fsync (its WAL frames
    // included), not the move into the document that follows without an fsync of its own.
    let lane1_path = dir.path().join("lane1.db");
    let mut files = Vec::new();
    for path in [lane1_path.clone(), ledger_path(&lane1_path)] {
        for suffix in ["", "-wal"] {
            let mut from = path.as_os_str().to_os_string();
            from.push(suffix);
            let from = std::path::PathBuf::from(from);
            if from.exists() {
                let to = cut.path().join(from.file_name().unwrap());
                std::fs::copy(&from, &to).unwrap();
                files.push((to, from));
            }
        }
    }
    assert_eq!(lane1.project_pending().unwrap(), 1);
    let day = todays_ledger_of_lane_1(&mut lane1);
    let heads = lane1.document_heads(&day).unwrap();
    // A peer already has the moved sale.
    let out = lane2
        .merge_remote(&day, &lane1.export_document(&day).unwrap())
        .unwrap();
    assert_eq!(out.new_sales, 2);
    drop(lane1);
    // Power cut: the move is lost, the sale's commit is not.
    for path in [lane1_path.clone(), ledger_path(&lane1_path)] {
        remove_file_set(&path);
    }
    for (from, to) in &files {
        std::fs::copy(from, to).unwrap();
    }
    let mut lane1 = Till::open(&lane1_path, options_seeded(clock, 7)).unwrap();
    assert_eq!(lane1.sale_by_number(&held.number).unwrap().id, held.sale_id);
    assert_eq!(
        lane1.document_heads(&day).unwrap(),
        heads,
        "the move made again is the change the peer holds"
    );
    let out = lane2
        .merge_remote(&day, &lane1.export_document(&day).unwrap())
        .unwrap();
    assert_eq!(out.new_sales, 0);
    assert_eq!(
        lane2.document_heads(&day).unwrap(),
        heads,
        "one history on both lanes"
    );
    assert!(lane1.stock_discrepancies().unwrap().is_empty());
    assert_eq!(
        count(
            &rusqlite::Connection::open(ledger_path(&lane1_path)).unwrap(),
            "SELECT count(*) FROM ledger_inbox"
        ),
        0
    );
}
