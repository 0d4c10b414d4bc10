//! `POST /api/products/import` (issue #12): a chain's catalog of `--products` products (default
//! 100,000) imported over loopback in requests of `--chunk` rows (default 10,000), as JSON and
//! as CSV, then the same file again (every row unchanged), beside `POST /api/products` one
//! product per request for `--single` products (default 2,000) in the same run.
//!
//! ```sh
//! cargo run --release -p kasir-gateway --example import_bench -- \
//!     [--database-url mysql://root@127.0.0.1:3306/kasir_bench | sqlite:///tmp/x.db] \
//!     [--products 100000] [--chunk 10000] [--single 2000]
//! ```
//! The database is created when missing and emptied first (it must be a scratch database).
// Floats here are rates for a report, never money.
#![allow(clippy::float_arithmetic, clippy::cast_precision_loss)]

use std::time::Instant;

#[path = "support/mod.rs"]
mod support;

use kasir_gateway::config::Config;
use serde_json::{Value, json};

/// Product `i` of the generated catalog; `round` changes its price so a second import with
/// another round updates every row.
fn product(i: usize, round: u32) -> Value {
    let kind = ["Teh", "Kopi", "Beras", "Susu", "Gula"][i % 5];
    let brand = ["Sosro", "Kapal Api", "Indomie", "Ultra", "Gulaku"][i % 5];
    json!({
        "sku": format!("IMP-{i:06}"),
        "name": format!("Produk Uji {i} {kind}"),
        "barcode": format!("899{i:010}"),
        "brand": brand,
        "cost_price": 1000 + (i % 500) * 10,
        "suggested_price": 1500 + (i % 500) * 10 + round as usize * 100,
        "unit": if i.is_multiple_of(20) { "kg" } else { "pcs" },
    })
}

fn csv(rows: &[Value]) -> String {
    let mut out = String::from("sku,name,barcode,brand,cost_price,suggested_price,unit\n");
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            r["sku"].as_str().unwrap(),
            r["name"].as_str().unwrap(),
            r["barcode"].as_str().unwrap(),
            r["brand"].as_str().unwrap(),
            r["cost_price"],
            r["suggested_price"],
            r["unit"].as_str().unwrap()
        ));
    }
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut url = support::default_url();
    let (mut products, mut chunk, mut single) = (100_000usize, 10_000usize, 2_000usize);
    const USAGE: &str = "import_bench [--database-url URL] [--products N] [--chunk N] [--single N]";
    for (k, v) in support::flags(USAGE) {
        match k.as_str() {
            "--database-url" => url = v,
            "--products" => products = support::num(&k, &v, USAGE),
            "--chunk" => chunk = support::num(&k, &v, USAGE),
            _ => single = support::num(&k, &v, USAGE),
        }
    }
    let bench = support::Bench::start(Config {
        database_url: url.clone(),
        rate_limit_per_minute: u32::MAX,
        ..Config::default()
    })
    .await;
    println!(
        "import_bench: {url}, {products} products in requests of {chunk}, {single} one by one"
    );
    let import = |content_type: &'static str, body: String| {
        let req = bench
            .http
            .post(format!("{}/api/products/import", bench.base))
            .bearer_auth(&bench.admin)
            .header("content-type", content_type)
            .body(body);
        async move {
            let r = req.send().await.unwrap();
            let status = r.status();
            let v: Value = r.json().await.unwrap();
            assert!(status.is_success(), "{status}: {v}");
            v
        }
    };
    let run = |label: &'static str, content_type: &'static str, round: u32, start: usize| {
        let import = &import;
        async move {
            let t = Instant::now();
            let (mut created, mut updated, mut unchanged, mut bytes) = (0u64, 0u64, 0u64, 0usize);
            for lo in (0..products).step_by(chunk) {
                let rows: Vec<Value> = (lo..(lo + chunk).min(products))
                    .map(|i| product(start + i, round))
                    .collect();
                let body = if content_type == "text/csv" {
                    csv(&rows)
                } else {
                    Value::Array(rows).to_string()
                };
                bytes += body.len();
                let v = import(content_type, body).await;
                created += v["created"].as_u64().unwrap();
                updated += v["updated"].as_u64().unwrap();
                unchanged += v["unchanged"].as_u64().unwrap();
            }
            let secs = t.elapsed().as_secs_f64();
            println!(
                "{label:<34} {products:>7} rows {secs:>7.2} s {:>9.0} rows/s  created {created} updated {updated} unchanged {unchanged}  ({:.1} MiB sent)",
                products as f64 / secs,
                bytes as f64 / 1048576.0
            );
            products as f64 / secs
        }
    };
    let json_new = run("JSON import, new products", "application/json", 0, 0).await;
    let json_same = run("JSON import, same file again", "application/json", 0, 0).await;
    let csv_changed = run("CSV import, every price changed", "text/csv", 1, 0).await;
    let csv_new = run("CSV import, new products", "text/csv", 0, products).await;
    let t = Instant::now();
    for i in 0..single {
        bench
            .post("/api/products", &bench.admin, product(2 * products + i, 0))
            .await;
    }
    let one_by_one = single as f64 / t.elapsed().as_secs_f64();
    println!(
        "{:<34} {single:>7} rows {:>7.2} s {one_by_one:>9.0} rows/s",
        "POST /api/products, one by one",
        t.elapsed().as_secs_f64()
    );
    println!(
        "ratios to one by one: JSON new {:.1}x, same again {:.1}x, CSV changed {:.1}x, CSV new {:.1}x",
        json_new / one_by_one,
        json_same / one_by_one,
        csv_changed / one_by_one,
        csv_new / one_by_one
    );
}
