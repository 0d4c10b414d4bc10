//! `GET /api/products/barcode/{barcode}` under load from a second process (issue #5): this
//! process runs the gateway over a store of `--products` products; `wrk` (Debian package
//! `wrk`) hammers random barcodes with a device token over loopback; the gateway's resident
//! memory is sampled during the load.
//!
//! ```sh
//! cargo run --release -p kasir-gateway --example barcode_bench -- \
//!     --database-url mysql://root@127.0.0.1:3306/kasir_bench [--products 10000] [--secs 10] \
//!     [--connections 32] [--pool 8]
//! ```
//! `--connections` is wrk's, `--pool` the gateway's database connections; during each load the
//! store also uploads 5 sales `--uploads-per-sec` times a second (default 2), each dropping the
//! store's cached lookups.
//! The database is created when missing and emptied first (it must be a scratch database).
// Floats here are rates for a report, never money.
#![allow(clippy::float_arithmetic, clippy::cast_precision_loss)]

use std::time::Duration;

#[path = "support/mod.rs"]
mod support;

use kasir_gateway::AppState;
use kasir_gateway::config::Config;
use serde_json::Value;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut url = support::default_url();
    let (mut products, mut secs, mut connections) = (10_000usize, 10u64, 32u32);
    let mut pool = Config::default().max_connections;
    let mut uploads_per_sec = 2u64;
    const USAGE: &str = "barcode_bench [--database-url URL] [--products N] [--secs N] [--connections N] [--pool N] [--uploads-per-sec N]";
    for (k, v) in support::flags(USAGE) {
        match k.as_str() {
            "--database-url" => url = v,
            "--products" => products = support::num(&k, &v, USAGE),
            "--secs" => secs = support::num(&k, &v, USAGE),
            "--connections" => connections = support::num(&k, &v, USAGE),
            "--pool" => pool = support::num(&k, &v, USAGE),
            _ => uploads_per_sec = support::num(&k, &v, USAGE),
        }
    }
    let bench = support::Bench::start(Config {
        database_url: url.clone(),
        // The load comes from one token and one address: lift the limits for the measurement.
        rate_limit_per_minute: u32::MAX,
        max_connections: pool,
        ..Config::default()
    })
    .await;
    let (state, base, http, store_id) = (&bench.state, &bench.base, &bench.http, bench.store_id);
    // Products and store rows straight in SQL: seeding 10k through the API is not what is measured.
    kasir_gateway::on_db!(&state.db, |pool, B| {
        let mut tx = pool.begin().await.unwrap();
        for i in 0..products {
            let r = sqlx::query(
                "INSERT INTO products (barcode, sku, name, unit, cost_price, created_at, updated_at)
                 VALUES (?, ?, ?, 'pcs', ?, ?, ?)",
            )
            .bind(format!("8990{i:09}"))
            .bind(format!("B{i:06}"))
            .bind(format!("Barang {i}"))
            .bind(B::money(kasir_gateway::schema::Decimal::from(1500)).unwrap())
            .bind(chrono::Utc::now())
            .bind(chrono::Utc::now())
            .execute(&mut *tx)
            .await
            .unwrap();
            let pid = kasir_gateway::auth::LastInsertId::last_insert_id_u64(&r);
            sqlx::query(
                "INSERT INTO store_products (store_id, product_id, selling_price, stock_quantity, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(i64::try_from(store_id).unwrap())
            .bind(i64::try_from(pid).unwrap())
            .bind(B::money(kasir_gateway::schema::Decimal::from(2500)).unwrap())
            .bind(B::qty(kasir_gateway::schema::Decimal::from(40)).unwrap())
            .bind(chrono::Utc::now())
            .bind(chrono::Utc::now())
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    });
    let token = bench.device().await;
    // One request by hand: the answer is right.
    let one: Value = http
        .get(format!(
            "{base}/api/products/barcode/8990000000007?store_id={store_id}"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["data"]["sku"], "B000007", "{one}");

    // A second gateway instance on the same database with the lookup cache off, to compare.
    let uncached = AppState::open(Config {
        database_url: url,
        rate_limit_per_minute: u32::MAX,
        barcode_cache_ms: 0,
        max_connections: pool,
        ..Config::default()
    })
    .await
    .expect("second gateway");
    let base2 = support::serve(uncached).await;
    println!(
        "{} database, {products} products, random barcodes; wrk -t2 -c{connections} -d{secs}s --latency; \
         one process serves both gateway instances, one after the other",
        state.db.backend()
    );
    let dir = tempfile::tempdir().unwrap();
    for (label, base) in [
        (
            "lookup cache off (every request reads the database)",
            &base2,
        ),
        ("lookup cache on (default: 60 s, dropped on writes)", base),
    ] {
        // Meanwhile the store's leader keeps uploading sales (5 sales of 3 lines per upload),
        // each of which moves stock and so drops the store's cached lookups.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let uploader = tokio::spawn(upload_loop(
            http.clone(),
            base.to_string(),
            token.clone(),
            products,
            uploads_per_sec,
            stop.clone(),
        ));
        let (rps, p99, before, peak) =
            load(&dir, base, products, store_id, &token, connections, secs).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let uploads = uploader.await.unwrap();
        println!(
            "{label}: {rps} req/s, p99 {p99}, while {uploads} uploads went in; process RSS {} MiB before, at most {} MiB during the load",
            before / 1024,
            peak / 1024
        );
    }
}

async fn load(
    dir: &tempfile::TempDir,
    base: &str,
    products: usize,
    store_id: u64,
    token: &str,
    connections: u32,
    secs: u64,
) -> (String, String, u64, u64) {
    let script = dir.path().join("barcode.lua");
    std::fs::write(
        &script,
        format!(
            r#"local n = 0
request = function()
  n = n + 1
  local b = string.format("8990%09d", (n * 7919) % {products})
  return wrk.format("GET", "/api/products/barcode/" .. b .. "?store_id={store_id}", {{["Authorization"] = "Bearer {token}"}})
end
response = function(status, headers, body)
  if status ~= 200 then
    print("unexpected status " .. status)
    os.exit(1)
  end
end
"#
        ),
    )
    .unwrap();
    let rss_before = rss_kib();
    let child = tokio::process::Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{secs}s"),
            "--latency",
            "-s",
            script.to_str().unwrap(),
            base,
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("wrk (apt-get install wrk)");
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(rss_before));
    let p = peak.clone();
    let sampler = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            p.fetch_max(rss_kib(), std::sync::atomic::Ordering::Relaxed);
        }
    });
    let out = child.wait_with_output().await.unwrap();
    sampler.abort();
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(out.status.success(), "wrk failed");
    let rps = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?")
        .to_string();
    let p99 = text
        .lines()
        .find(|l| l.trim_start().starts_with("99%"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?")
        .to_string();
    (rps, p99, rss_before, peak)
}

static SALE_NO: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Uploads 5 sales every `1 / per_sec` s until `stop`; returns how many uploads succeeded.
async fn upload_loop(
    http: reqwest::Client,
    base: String,
    token: String,
    products: usize,
    per_sec: u64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> u64 {
    let mut done = 0;
    if per_sec == 0 {
        return 0;
    }
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let sales: Vec<Value> = (0..5)
            .map(|_| {
                let n = SALE_NO.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let details: Vec<Value> = (0..3u64)
                    .map(|j| {
                        let k = (n * 7919 + j * 104_729) % products as u64;
                        serde_json::json!({ "sku": format!("B{k:06}"), "quantity": 1,
                            "unit_price": 2500, "total_price": 2500 })
                    })
                    .collect();
                serde_json::json!({
                    "sale_id": uuid::Uuid::now_v7().to_string(),
                    "transaction_number": format!("BEN01-002-{n:08}"),
                    "cashier_id": 1, "transaction_date": chrono::Utc::now(),
                    "subtotal": 7500, "tax_amount": 0, "discount_amount": 0, "total_amount": 7500,
                    "payment_method": "cash", "payment_status": "paid",
                    "details": details, "payments": [{ "payment_method": "cash", "amount": 7500 }]
                })
            })
            .collect();
        let r = http
            .post(format!("{base}/api/sync/upload"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "store_id": "BEN01", "data": { "transactions": sales } }))
            .send()
            .await;
        if r.is_ok_and(|r| r.status().is_success()) {
            done += 1;
        }
        tokio::time::sleep(Duration::from_millis(1000 / per_sec)).await;
    }
    done
}
