//! The exact, paged download (`GET /api/sync/download/{store}?cursor=`): pages that add up to
//! every change with its latest content while HQ keeps changing things between pages, a
//! progress figure, nothing sent twice for nothing, and (on MariaDB) a change whose transaction
//! commits after downloads went past it still arrives.

mod common;

use std::collections::BTreeMap;

use common::{Gateway, backends};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Pages through one round from `cursor`; returns the rows by table and key (latest content
/// wins), the pages, the progress figures seen, and the cursor the round ends at.
async fn round(
    gw: &Gateway,
    store: u64,
    device: &str,
    cursor: &str,
    limit: u32,
    between_pages: &mut dyn FnMut(usize) -> Option<(String, Value)>,
) -> (BTreeMap<String, Value>, usize, Vec<(u64, u64)>, String) {
    let mut rows = BTreeMap::new();
    let mut cursor = cursor.to_string();
    let mut pages = 0;
    let mut progress = Vec::new();
    loop {
        let (s, v) = gw
            .get(
                &format!("/api/sync/download/{store}?cursor={cursor}&limit={limit}"),
                device,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        pages += 1;
        let n: usize = ["products", "categories", "customers", "stock_movements"]
            .iter()
            .filter_map(|t| v["data"][t].as_array().map(Vec::len))
            .sum();
        assert!(n <= limit as usize, "a page holds at most the limit: {n}");
        for (table, key) in [
            ("products", "sku"),
            ("categories", "id"),
            ("customers", "customer_uuid"),
            ("stock_movements", "movement_id"),
        ] {
            for r in v["data"][table].as_array().into_iter().flatten() {
                rows.insert(format!("{table}/{}", r[key]), r.clone());
            }
        }
        if let Some(p) = v.get("progress").filter(|p| p.is_object()) {
            progress.push((p["sent"].as_u64().unwrap(), p["total"].as_u64().unwrap()));
        }
        cursor = v["cursor"]
            .as_str()
            .expect("a cursor download carries a cursor")
            .to_string();
        if v["has_more"] != json!(true) {
            return (rows, pages, progress, cursor);
        }
        if let Some((path, body)) = between_pages(pages) {
            let admin = gw.admin().await;
            let (s, v) = gw.put(&path, &admin, body).await;
            assert!(s.is_success(), "{path}: {v}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_add_up_to_every_change_while_hq_keeps_changing() {
    for backend in backends() {
        let gw = Gateway::start(backend, "cursor", |_| {}).await;
        let admin = gw.admin().await;
        let (store, device) = gw.store_with_products(&admin, "CUR01", 120, 5).await;
        // A second store's changes are not this store's.
        let (other, _) = gw.store_with_products(&admin, "CUR02", 3, 0).await;
        let first = gw.product_id_by_sku("P0000").await;
        let late = gw.product_id_by_sku("P0119").await;
        let (s, v) = gw
            .post(
                "/api/customers",
                &admin,
                json!({ "name": "Budi Santoso", "phone": "081234567890" }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");

        // Everything, in pages of 50, while HQ changes a product already sent (page 1), one
        // not sent yet (page 2), and the other store's price (page 3).
        let mut edits = |page: usize| match page {
            1 => Some((
                format!("/api/products/{first}"),
                json!({ "name": "Produk 0 (baru)" }),
            )),
            2 => Some((
                format!("/api/products/{late}"),
                json!({ "name": "Produk 119 (baru)" }),
            )),
            3 => Some((
                format!("/api/stores/{other}/products/{first}"),
                json!({ "selling_price": 1500 }),
            )),
            _ => None,
        };
        let (rows, pages, progress, cursor) = round(&gw, store, &device, "0", 50, &mut edits).await;
        let products = rows.keys().filter(|k| k.starts_with("products/")).count();
        let moves = rows
            .keys()
            .filter(|k| k.starts_with("stock_movements/"))
            .count();
        assert_eq!((products, moves), (120, 120), "{backend}");
        assert_eq!(
            rows.keys().filter(|k| k.starts_with("customers/")).count(),
            1
        );
        // 241 rows at 50 a page.
        assert!(pages >= 5, "{backend}: {pages} pages");
        // The progress counts up to the total the round began with.
        let total = progress[0].1;
        assert_eq!(total, 241, "{backend}: {progress:?}");
        assert!(
            progress
                .windows(2)
                .all(|w| w[0].0 <= w[1].0 && w[1].1 == total)
        );
        assert_eq!(progress.last().unwrap().0, total);
        // The product changed after the round began but before its page came is sent with its
        // new name; the one already sent comes again in the next round.
        assert_eq!(
            rows["products/\"P0119\""]["name"], "Produk 119 (baru)",
            "{backend}"
        );
        assert_eq!(rows["products/\"P0000\""]["name"], "Produk 0", "{backend}");
        let (next, _, _, cursor2) = round(&gw, store, &device, &cursor, 50, &mut |_| None).await;
        let names: Vec<&str> = next
            .iter()
            .filter(|(k, _)| k.starts_with("products/"))
            .map(|(_, v)| v["name"].as_str().unwrap())
            .collect();
        // P0119 may come again (changed after the round's bounds were read), P0000 must.
        assert!(names.contains(&"Produk 0 (baru)"), "{backend}: {names:?}");
        assert!(names.len() <= 2, "{backend}: {names:?}");
        // The other store's price moved this store's nothing: a quiet poll sends nothing and
        // keeps the cursor.
        let (s, v) = gw
            .get(
                &format!("/api/sync/download/{store}?cursor={cursor2}"),
                &device,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["cursor"], json!(cursor2), "{backend}: {v}");
        assert!(
            v["data"]["products"].as_array().is_none_or(Vec::is_empty),
            "{v}"
        );
        assert!(v.get("has_more").is_none(), "{v}");

        // A price for this store, an HQ adjustment and a customer edit: the next poll has
        // exactly those.
        gw.put(
            &format!("/api/stores/{store}/products/{late}"),
            &admin,
            json!({ "selling_price": 2500 }),
        )
        .await;
        let (s, v) = gw
            .put(
                &format!("/api/products/{first}/stock"),
                &admin,
                json!({ "store_id": store, "quantity": -2, "movement_type": "adjustment", "notes": "rusak" }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (rows, _, _, _) = round(&gw, store, &device, &cursor2, 50, &mut |_| None).await;
        let keys: Vec<&String> = rows.keys().collect();
        assert_eq!(keys.len(), 2, "{backend}: {keys:?}");
        assert_eq!(rows["products/\"P0119\""]["selling_price"], 2500);
        assert_eq!(
            rows.values()
                .find(|r| r.get("movement_type").is_some())
                .unwrap()["quantity"],
            -2
        );

        // Cursors are checked: another store's, a made-up one, and mixed with last_sync.
        for (target, q, field) in [
            (other, format!("cursor={cursor2}"), "cursor"),
            (store, "cursor=1:1:2".to_string(), "cursor"),
            (
                store,
                "cursor=0&last_sync=2026-01-01T00:00:00Z".to_string(),
                "cursor",
            ),
            (store, "cursor=0&tables=products".to_string(), "tables"),
            (store, "limit=10".to_string(), "limit"),
        ] {
            // (The device may not read another store at all; an HQ admin may, with that
            // store's cursors only.)
            let (s, v) = gw
                .get(&format!("/api/sync/download/{target}?{q}"), &admin)
                .await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{backend}: {q}: {v}");
            assert!(v["errors"].get(field).is_some(), "{q}: {v}");
        }
        gw.stop().await;
    }
}

/// The names of the products of a download answer.
fn names(v: &Value) -> Vec<&str> {
    v["data"]["products"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p["name"].as_str().unwrap())
        .collect()
}

/// On MariaDB, a change whose transaction is held open (here: waiting for a lock on the
/// catalog's change counter, after it wrote the product) while downloads go past it arrives in
/// the first download after it commits, however long it was held: the version it gets is
/// handed out at its commit, not when it began.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_commits_late_is_not_missed() {
    if std::env::var(common::ENV).is_err() {
        // SQLite has one writer at a time: a transaction cannot commit behind a later one.
        return;
    }
    let gw = Gateway::start("mysql", "late", |_| {}).await;
    let admin = gw.admin().await;
    let (store, device) = gw.store_with_products(&admin, "LATE1", 3, 0).await;
    let pid = gw.product_id_by_sku("P0001").await;
    let other = gw.product_id_by_sku("P0002").await;
    let (s, v) = gw
        .get(&format!("/api/sync/download/{store}?cursor=0"), &device)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let mut cursor = v["cursor"].as_str().unwrap().to_string();
    // Hold the catalog counter's row: the product change below writes its row, then waits.
    let kasir_gateway::db::Db::MySql(pool) = &gw.state.db else {
        panic!("a MySQL gateway");
    };
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("SELECT version FROM change_versions WHERE scope = 'catalog' FOR UPDATE")
        .fetch_all(&mut *holder)
        .await
        .unwrap();
    let (url, token) = (format!("{}/api/products/{pid}", gw.base), admin.clone());
    let client = gw.client.clone();
    let change = tokio::spawn(async move {
        client
            .put(url)
            .bearer_auth(token)
            .json(&json!({ "name": "Dikirim terlambat" }))
            .send()
            .await
            .unwrap()
            .status()
    });
    // Downloads go on meanwhile (a store price moves the store's counter, so the cursor
    // moves too), for longer than any look-back by time would cover at this scale.
    for round in 0..5 {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        gw.put(
            &format!("/api/stores/{store}/products/{other}"),
            &admin,
            json!({ "selling_price": 1000 + round }),
        )
        .await;
        let (s, v) = gw
            .get(
                &format!("/api/sync/download/{store}?cursor={cursor}"),
                &device,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let names = names(&v);
        assert!(
            !names.contains(&"Dikirim terlambat"),
            "not committed yet: {v}"
        );
        cursor = v["cursor"].as_str().unwrap().to_string();
    }
    assert!(!change.is_finished(), "the change waits for the counter");
    holder.rollback().await.unwrap();
    assert!(change.await.unwrap().is_success());
    let (s, v) = gw
        .get(
            &format!("/api/sync/download/{store}?cursor={cursor}"),
            &device,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let names = names(&v);
    assert_eq!(names, ["Dikirim terlambat"], "{v}");
    gw.stop().await;
}
