//! The demo store as `cargo run --release` starts it (embedded HQ on SQLite, the till as
//! lane 1, two lanes selling in the background, iroh on loopback), and the till's screen
//! while another lane sells.

use std::time::{Duration, Instant};

use egui::Key;
use egui_kittest::kittest::Queryable;
use kasir_node::schema::Decimal;
use kasir_node::schema::payment::Tender;
use kasir_node::types::AuthParams;
use kasir_node::{Command, Node};
use kasir_ui::demo::{DemoOptions, DemoStore, HQ_ADMIN};
use serde_json::{Value, json};

mod common;
use common::{harness, log_in_and_open_shift, press, type_into, wedge};

fn options(dir: &std::path::Path, baskets_per_minute: f64) -> DemoOptions {
    let mut o = DemoOptions::new(dir);
    o.products = 120;
    o.baskets_per_minute = baskets_per_minute;
    o.auth = AuthParams::fast_for_tests();
    o.hq_port = 0;
    o
}

/// Polls `check` every 50 ms until it holds; panics with `what` after `limit`.
fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out after {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sales(node: &Node) -> i64 {
    node.counts().unwrap().sales
}

/// An access token of HQ's administrator (one login: HQ limits logins a minute).
fn hq_token(store: &DemoStore) -> String {
    store.block_on(async {
        let login: Value = reqwest::Client::new()
            .post(format!("{}/api/auth/login", store.hq_url))
            .json(&json!({ "username": HQ_ADMIN.0, "password": HQ_ADMIN.1 }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        login["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("HQ's login: {login}"))
            .to_string()
    })
}

/// The store's transaction numbers at HQ (as an integrator reads them), sorted.
fn hq_numbers(store: &DemoStore, token: &str) -> Vec<String> {
    store.block_on(async {
        let http = reqwest::Client::new();
        let mut out = Vec::new();
        for page in 1.. {
            let v: Value = http
                .get(format!(
                    "{}/api/transactions?store_id={}&per_page=100&page={page}",
                    store.hq_url, store.hq_store_id
                ))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let rows = v["data"].as_array().cloned().unwrap_or_default();
            if rows.is_empty() {
                break;
            }
            out.extend(
                rows.iter()
                    .map(|t| t["transaction_number"].as_str().unwrap().to_string()),
            );
        }
        out.sort();
        out
    })
}

#[test]
fn the_demo_store_sells_on_its_lanes_forwards_to_hq_and_a_second_start_reuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut said = Vec::new();
    let store = DemoStore::start(&options(dir.path(), 300.0), &mut |s| {
        said.push(s.to_string())
    })
    .unwrap();
    assert!(said.iter().any(|s| s.contains("120 products")), "{said:?}");
    // The background lanes get the catalog over the LAN and sell; the till sees their sales.
    wait_for("lanes 2 and 3 sell", Duration::from_secs(90), || {
        store
            .lanes
            .iter()
            .all(|l| l.diagnostics().unwrap().sales >= 3)
    });
    wait_for("lane 1 sees their sales", Duration::from_secs(60), || {
        sales(&store.till) >= 6
    });
    // One lane leads and forwards to HQ: every sale the till knows reaches HQ once.
    wait_for("a leader", Duration::from_secs(60), || {
        store.till.hq_status().leader.is_some()
    });
    let seen = sales(&store.till);
    let token = hq_token(&store);
    wait_for("the sales at HQ", Duration::from_secs(90), || {
        std::thread::sleep(Duration::from_millis(250));
        i64::try_from(hq_numbers(&store, &token).len()).unwrap() >= seen
    });
    let at_hq = hq_numbers(&store, &token);
    let mut unique = at_hq.clone();
    unique.dedup();
    assert_eq!(unique, at_hq, "each sale once at HQ");
    let store_id = store.hq_store_id;
    store.shutdown();

    // A second start reuses the directory: nothing set up again, the books as they were.
    let mut said = Vec::new();
    let store =
        DemoStore::start(&options(dir.path(), 0.0), &mut |s| said.push(s.to_string())).unwrap();
    assert!(
        !said
            .iter()
            .any(|s| s.contains("products") || s.contains("demo users")),
        "{said:?}"
    );
    assert_eq!(store.hq_store_id, store_id);
    assert!(sales(&store.till) >= seen);
    assert!(hq_numbers(&store, &hq_token(&store)).len() >= at_hq.len());
    store.shutdown();
}

#[test]
fn another_lane_selling_the_last_units_shows_the_stock_warning_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = DemoStore::start(&options(dir.path(), 0.0), &mut |_| {}).unwrap();
    let mut h = harness(&store.till);
    h.run();
    // The cashier rings up 30 of a product the store holds 40 of.
    let p = kasir_node::demo::store_catalog(120, 42)
        .1
        .into_iter()
        .find(|p| p.barcode.as_deref().is_some_and(|b| b.starts_with("899")))
        .unwrap();
    log_in_and_open_shift(&mut h);
    wedge(&mut h, p.barcode.as_deref().unwrap());
    press(&mut h, Key::F4);
    type_into(&mut h, "Jumlah baru", "30");
    press(&mut h, Key::Enter);
    let line = store.till.view().cart.lines[0].clone();
    assert_eq!(
        line.quantity,
        Decimal::from(30),
        "{:?}",
        store.till.view().last_error
    );
    assert_eq!(line.stock, Decimal::from(40));
    assert!(!line.short);
    assert!(h.query_by_label_contains("stok tinggal").is_none());

    // Lane 2 (which got the catalog and stock over the LAN) sells 15 of them.
    let lane2 = &store.lanes[0];
    wait_for(
        "lane 2 holds the product's stock",
        Duration::from_secs(60),
        || {
            lane2
                .product(&p.sku)
                .unwrap()
                .is_some_and(|q| q.stock == Decimal::from(40))
        },
    );
    lane2
        .execute(Command::AddSku {
            sku: p.sku.clone(),
            quantity: Decimal::from(15),
        })
        .unwrap();
    lane2
        .pay(vec![Tender::cash(Decimal::from(100_000_000))])
        .unwrap();
    // The till's screen says so by itself: 25 left, fewer than the line's 30.
    let start = Instant::now();
    while h.query_by_label("! stok tinggal 25").is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no warning on the till: {:?}",
            store.till.view().cart.lines
        );
        std::thread::sleep(Duration::from_millis(50));
        h.run();
    }
    assert!(store.till.view().cart.lines[0].short);
    store.shutdown();
}
