//! `GET /api/sync/download/{store}` (issue #12): a store's first download of a chain's
//! catalog of `--products` products (default 100,000), and its catch-up after a week away
//! (`--changed` products re-priced at HQ, default 10,000, and `--adjustments` HQ stock
//! adjustments, default 500), each by cursor in pages of `--limit` rows (default 5,000, what
//! a lane asks for is 2,000) beside the same download by time (`last_sync`, one answer) in
//! the same run.
//!
//! ```sh
//! cargo run --release -p kasir-gateway --example download_bench -- \
//!     [--database-url mysql://root@127.0.0.1:3306/kasir_bench | sqlite:///tmp/x.db] \
//!     [--products 100000] [--changed 10000] [--adjustments 500] [--limit 5000]
//! ```
//! The catalog comes in through `POST /api/products/import`; the store's rows for it are
//! written with one SQL statement (stamped as the gateway stamps a store price), since 100,000
//! `PUT /api/stores/{id}/products/{pid}` would time the setup, not the download. The database
//! is created when missing and emptied first (it must be a scratch database).
// Floats here are rates for a report, never money.
#![allow(clippy::float_arithmetic, clippy::cast_precision_loss)]

use std::time::Instant;

#[path = "support/mod.rs"]
mod support;

use kasir_gateway::config::Config;
use kasir_schema::Decimal;
use serde_json::{Value, json};

fn product(i: usize, price: usize) -> Value {
    json!({
        "sku": format!("DL-{i:06}"),
        "name": format!("Produk Unduh {i}"),
        "barcode": format!("899{i:010}"),
        "suggested_price": price,
    })
}

/// Rows of a download answer.
fn rows(v: &Value) -> usize {
    ["products", "categories", "customers", "stock_movements"]
        .iter()
        .filter_map(|t| v["data"][t].as_array().map(Vec::len))
        .sum()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut url = support::default_url();
    let (mut products, mut changed, mut adjustments, mut limit) =
        (100_000usize, 10_000usize, 500usize, 5_000usize);
    const USAGE: &str = "download_bench [--database-url URL] [--products N] [--changed N] [--adjustments N] [--limit N]";
    for (k, v) in support::flags(USAGE) {
        match k.as_str() {
            "--database-url" => url = v,
            "--products" => products = support::num(&k, &v, USAGE),
            "--changed" => changed = support::num(&k, &v, USAGE),
            "--adjustments" => adjustments = support::num(&k, &v, USAGE),
            _ => limit = support::num(&k, &v, USAGE),
        }
    }
    let bench = support::Bench::start(Config {
        database_url: url.clone(),
        rate_limit_per_minute: u32::MAX,
        ..Config::default()
    })
    .await;
    println!(
        "download_bench: {url}, {products} products, then {changed} re-priced and {adjustments} adjustments; pages of {limit}"
    );
    let import = |rows: Vec<Value>| {
        let req = bench
            .http
            .post(format!("{}/api/products/import", bench.base))
            .bearer_auth(&bench.admin)
            .json(&rows);
        async move {
            let r = req.send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.status());
        }
    };
    for lo in (0..products).step_by(10_000) {
        import(
            (lo..(lo + 10_000).min(products))
                .map(|i| product(i, 1500))
                .collect(),
        )
        .await;
    }
    let store = i64::try_from(bench.store_id).unwrap();
    kasir_gateway::on_db!(&bench.state.db, |pool, B| {
        let mut tx = pool.begin().await.unwrap();
        sqlx::query(
            "INSERT INTO store_products (store_id, product_id, selling_price, stock_quantity, min_stock, max_stock,
                is_available, created_at, updated_at)
             SELECT ?, id, ?, ?, ?, ?, 1, created_at, created_at FROM products",
        )
        .bind(store)
        .bind(B::money(Decimal::from(1500)).unwrap())
        .bind(B::qty(Decimal::ZERO).unwrap())
        .bind(B::qty(Decimal::ZERO).unwrap())
        .bind(B::qty(Decimal::from(1000)).unwrap())
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::query("INSERT INTO change_versions (scope, version) VALUES (?, 1)")
            .bind(format!("store:{store}"))
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query("UPDATE store_products SET sync_version = 1, updated_at = updated_at")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    });
    let device = bench.device().await;
    let get = |query: String| {
        let req = bench
            .http
            .get(format!(
                "{}/api/sync/download/{}?{query}",
                bench.base, bench.store_id
            ))
            .bearer_auth(&device);
        async move {
            let r = req.send().await.unwrap();
            let status = r.status();
            let text = r.text().await.unwrap();
            assert!(status.is_success(), "{status}: {text}");
            (serde_json::from_str::<Value>(&text).unwrap(), text.len())
        }
    };
    // Pages from `cursor` to the end of the round; (rows, pages, bytes, seconds, last cursor).
    let by_cursor = |cursor: String| {
        let get = &get;
        async move {
            let t = Instant::now();
            let (mut n, mut pages, mut bytes, mut cursor) = (0, 0, 0, cursor);
            let mut figures = Vec::new();
            loop {
                let (v, b) = get(format!("cursor={cursor}&limit={limit}")).await;
                n += rows(&v);
                pages += 1;
                bytes += b;
                figures.push(format!(
                    "{}/{}",
                    v["progress"]["sent"], v["progress"]["total"]
                ));
                cursor = v["cursor"].as_str().unwrap().to_string();
                if v["has_more"] != json!(true) {
                    break;
                }
            }
            (n, pages, bytes, t.elapsed().as_secs_f64(), cursor, figures)
        }
    };
    let report = |label: &str, n: usize, pages: usize, bytes: usize, secs: f64| {
        println!(
            "{label:<44} {n:>7} rows {pages:>3} answer(s) {secs:>7.2} s {:>9.0} rows/s ({:.1} MiB)",
            n as f64 / secs,
            bytes as f64 / 1_048_576.0
        );
        n as f64 / secs
    };

    // 1. The first download: everything.
    let t = Instant::now();
    let (v, bytes) = get(String::new()).await;
    let by_time = report(
        "first download, by time (one answer)",
        rows(&v),
        1,
        bytes,
        t.elapsed().as_secs_f64(),
    );
    let before_week = v["last_sync"].as_str().unwrap().to_string();
    let (n, pages, bytes, secs, cursor, figures) = by_cursor("0".into()).await;
    let paged = report("first download, by cursor (pages)", n, pages, bytes, secs);
    println!("  progress after each page: {}", figures.join(" "));
    println!("  ratio cursor/time: {:.2}x the rows/s", paged / by_time);

    // 2. A week away: HQ re-prices products and adjusts stock.
    for lo in (0..changed).step_by(10_000) {
        import(
            (lo..(lo + 10_000).min(changed))
                .map(|i| product(i * (products / changed.max(1)).max(1), 1750))
                .collect(),
        )
        .await;
    }
    for i in 0..adjustments {
        let pid = 1 + (i * 37) % products;
        let r = bench
            .http
            .put(format!("{}/api/products/{pid}/stock", bench.base))
            .bearer_auth(&bench.admin)
            .json(&json!({ "store_id": bench.store_id, "quantity": 5, "movement_type": "adjustment", "notes": "stock opname" }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }
    let t = Instant::now();
    let (v, bytes) = get(format!("last_sync={}", before_week.replace('+', "%2B"))).await;
    let by_time = report(
        "catch-up, by time (one answer)",
        rows(&v),
        1,
        bytes,
        t.elapsed().as_secs_f64(),
    );
    let (n, pages, bytes, secs, _, figures) = by_cursor(cursor).await;
    let paged = report("catch-up, by cursor (pages)", n, pages, bytes, secs);
    println!("  progress after each page: {}", figures.join(" "));
    println!("  ratio cursor/time: {:.2}x the rows/s", paged / by_time);
}
