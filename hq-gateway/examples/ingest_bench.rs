//! Ingest into the HQ database, side by side in one run (issue #5):
//!
//! - batched: sales uploaded through `POST /api/sync/upload` over HTTP on loopback, `--batch`
//!   sales per request (one transaction each, multi-row inserts, stock and movements derived);
//! - row at a time: the same kind of sales written by the naive way, one `INSERT` per row
//!   (sale, each line, each payment, each movement, each stock update), each its own
//!   autocommitted statement, straight through sqlx.
//!
//! ```sh
//! cargo run --release -p kasir-gateway --example ingest_bench -- \
//!     --database-url mysql://root@127.0.0.1:3306/kasir_bench [--sales 4000] [--lines 5] [--batch 500]
//! ```
//! The database is created when missing and emptied first (it must be a scratch database).
// Floats here are rates for a report, never money.
#![allow(clippy::float_arithmetic, clippy::cast_precision_loss)]

use std::time::Instant;

#[path = "support/mod.rs"]
mod support;

use kasir_gateway::config::Config;
use serde_json::{Value, json};

struct Args {
    url: String,
    sales: usize,
    lines: usize,
    batch: usize,
    naive_sales: usize,
}

fn args() -> Args {
    let mut a = Args {
        url: support::default_url(),
        sales: 4000,
        lines: 5,
        batch: 500,
        naive_sales: 400,
    };
    const USAGE: &str =
        "ingest_bench [--database-url URL] [--sales N] [--lines N] [--batch N] [--naive-sales N]";
    for (k, v) in support::flags(USAGE) {
        match k.as_str() {
            "--database-url" => a.url = v,
            "--sales" => a.sales = support::num(&k, &v, USAGE),
            "--lines" => a.lines = support::num(&k, &v, USAGE),
            "--batch" => a.batch = support::num(&k, &v, USAGE),
            _ => a.naive_sales = support::num(&k, &v, USAGE),
        }
    }
    a
}

const PRODUCTS: usize = 1000;

fn sale(n: usize, lines: usize) -> Value {
    let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("bench-{n}").as_bytes());
    let details: Vec<Value> = (0..lines)
        .map(|j| {
            json!({ "sku": format!("B{:05}", (n * 7 + j) % PRODUCTS), "quantity": 1,
                    "unit_price": 2500, "total_price": 2500, "tax_amount": 248 })
        })
        .collect();
    let total = 2500 * lines;
    json!({
        "sale_id": id.to_string(), "transaction_number": format!("BEN01-001-{n:08}"),
        "cashier_id": 1, "transaction_date": "2026-11-24T03:00:00Z",
        "subtotal": total, "tax_amount": 248 * lines, "discount_amount": 0, "total_amount": total,
        "payment_method": "cash", "payment_status": "paid", "lane_no": 1,
        "details": details, "payments": [{ "payment_method": "cash", "amount": total }]
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    let bench = support::Bench::start(Config {
        database_url: a.url.clone(),
        rate_limit_per_minute: u32::MAX,
        body_limit_bytes: 64 * 1024 * 1024,
        ..Config::default()
    })
    .await;
    let (state, base, http, admin, store_id) = (
        &bench.state,
        &bench.base,
        &bench.http,
        &bench.admin,
        bench.store_id,
    );
    let post = |path: &str, token: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(token.to_string())
            .json(&body)
            .send()
    };
    for i in 0..PRODUCTS {
        let p: Value = post(
            "/api/products",
            admin,
            json!({ "sku": format!("B{i:05}"), "name": format!("Barang {i}") }),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let id = p["id"].as_u64().unwrap();
        http.put(format!("{base}/api/stores/{store_id}/products/{id}"))
            .bearer_auth(admin)
            .json(&json!({ "selling_price": 2500 }))
            .send()
            .await
            .unwrap();
    }
    let device = bench.device().await;
    println!(
        "{} database, {PRODUCTS} products; {} sales of {} lines in batches of {}; row at a time: {} sales",
        state.db.backend(),
        a.sales,
        a.lines,
        a.batch,
        a.naive_sales
    );

    // Batched, through the API.
    let sales: Vec<Value> = (0..a.sales).map(|n| sale(n, a.lines)).collect();
    let t = Instant::now();
    for chunk in sales.chunks(a.batch) {
        let r = post(
            "/api/sync/upload",
            &device,
            json!({ "store_id": "BEN01", "data": { "transactions": chunk } }),
        )
        .await
        .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["processed"]["transactions"]["failed"], 0, "{v}");
    }
    let batched = t.elapsed();
    let line_count = (a.sales * a.lines) as f64;
    let batched_rate = line_count / batched.as_secs_f64();
    println!(
        "batched via /api/sync/upload: {} lines in {:.2?} = {:.0} lines/s",
        a.sales * a.lines,
        batched,
        batched_rate
    );

    // Row at a time, straight into the same tables (what a naive gateway would do).
    let kasir_gateway::db::Db::MySql(pool) = &state.db else {
        println!("row-at-a-time comparison runs on MySQL only");
        return;
    };
    let product_ids: Vec<u64> = sqlx::query_scalar("SELECT id FROM products ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap();
    let t = Instant::now();
    for n in 0..a.naive_sales {
        let sale_id = uuid::Uuid::now_v7().to_string();
        let r = sqlx::query(
            "INSERT INTO transactions (store_id, sale_id, content_hash, transaction_number, cashier_id,
                transaction_date, subtotal, tax_amount, discount_amount, total_amount, payment_method, payment_status)
             VALUES (?, ?, ?, ?, 1, NOW(3), ?, ?, 0, ?, 'cash', 'paid')",
        )
        .bind(store_id)
        .bind(&sale_id)
        .bind("0".repeat(64))
        .bind(format!("BEN01-009-{n:08}"))
        .bind(2500 * a.lines as i64)
        .bind(248 * a.lines as i64)
        .bind(2500 * a.lines as i64)
        .execute(pool)
        .await
        .unwrap();
        let tid = r.last_insert_id();
        for j in 0..a.lines {
            let pid = product_ids[(n * 7 + j) % PRODUCTS];
            sqlx::query(
                "INSERT INTO transaction_details (transaction_id, line_no, product_id, sku, quantity, unit_price,
                    total_price, tax_amount) VALUES (?, ?, ?, ?, 1, 2500, 2500, 248)",
            )
            .bind(tid)
            .bind(j as i64 + 1)
            .bind(pid)
            .bind(format!("B{:05}", (n * 7 + j) % PRODUCTS))
            .execute(pool)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO stock_movements (movement_id, store_id, product_id, movement_type, quantity, reference_type, sale_id)
                 VALUES (?, ?, ?, 'out', -1, 'sale', ?)",
            )
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(store_id)
            .bind(pid)
            .bind(&sale_id)
            .execute(pool)
            .await
            .unwrap();
            sqlx::query("UPDATE store_products SET stock_quantity = stock_quantity - 1 WHERE store_id = ? AND product_id = ?")
                .bind(store_id)
                .bind(pid)
                .execute(pool)
                .await
                .unwrap();
        }
        sqlx::query("INSERT INTO payment_details (transaction_id, payment_method, amount, payment_status) VALUES (?, 'cash', ?, 'success')")
            .bind(tid)
            .bind(2500 * a.lines as i64)
            .execute(pool)
            .await
            .unwrap();
    }
    let naive = t.elapsed();
    let naive_line_count = (a.naive_sales * a.lines) as f64;
    let naive_rate = naive_line_count / naive.as_secs_f64();
    println!(
        "row at a time: {} lines in {:.2?} = {:.0} lines/s",
        a.naive_sales * a.lines,
        naive,
        naive_rate
    );
    println!("batched / row at a time: {:.1}x", batched_rate / naive_rate);
}
