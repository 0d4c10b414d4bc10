//! Backlog drain through the leader (issue #12): a store of 4 lanes sold offline for an hour
//! at 1 sale/s per lane (14,400 sales, 1–9 lines, 5 on average); the leader holds all of it
//! (merged from the other lanes) and HQ comes back. Measured in one run, side by side:
//!
//! - **direct**: the same sales posted to `POST /api/sync/upload` as ready-made bodies of
//!   `--batch` sales (what the gateway's `ingest_bench` measures: HQ's own speed);
//! - **through the leader**: `Till::hq_batch` → gzip → `POST /api/sync/upload` →
//!   `Till::hq_confirm` (confirmations into the `synced/…` document), batch after batch, as
//!   the HQ driver does;
//! - bytes on the wire per forwarded sale, uncompressed and gzip.
//!
//! ```sh
//! cargo run --release -p kasir-tests --example forward_bench -- \
//!     [--database-url mysql://root@127.0.0.1:3306/kasir_bench | sqlite:///tmp/x.db] \
//!     [--sales-per-lane 3600] [--batch 1000]
//! ```
//! The database is emptied first (a scratch database).
// Floats here are rates and sizes for a report, never money.
#![allow(clippy::float_arithmetic, clippy::cast_precision_loss)]

use std::io::Write;
use std::time::Instant;

use kasir_core::demo::{self, SalesPlan};
use kasir_core::{AuthParams, NewUser, Till, TillOptions, default_store_config};
use kasir_gateway::AppState;
use kasir_gateway::config::Config;
use kasir_node::schema::roles::Role;
use kasir_node::schema::txn_number::{LaneNo, StoreCode};
use kasir_node::schema::wire::{
    SyncUploadData, SyncUploadRequest, SyncUploadResponse, UploadTransaction,
};
use serde_json::{Value, json};
use sqlx::Executor;

const ADMIN: (&str, &str) = ("bench-admin", "Kopi-Susu-2026-x");

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

struct Http {
    base: String,
    client: reqwest::Client,
}

impl Http {
    async fn json(&self, method: &str, path: &str, token: &str, body: Value) -> Value {
        let r = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }

    /// Posts an upload (gzip); returns HQ's answer.
    async fn upload(&self, token: &str, body: &[u8]) -> SyncUploadResponse {
        let r = self
            .client
            .post(format!("{}/api/sync/upload", self.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(gzip(body))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "upload: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }
}

fn flag<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}: not a number: {v}"))
        })
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("forward_bench [--database-url URL] [--sales-per-lane N] [--batch N]");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = args
        .iter()
        .position(|a| a == "--database-url")
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("hq.db").display()));
    let per_lane: u32 = flag(&args, "--sales-per-lane", 3_600);
    let batch: usize = flag(&args, "--batch", 1_000);
    if let Some((server, name)) = url.rsplit_once('/')
        && url.starts_with("mysql://")
    {
        let admin = sqlx::MySqlPool::connect(server)
            .await
            .expect("MySQL server");
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS `{name}`"
            )))
            .await
            .unwrap();
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )))
            .await
            .unwrap();
    }
    let state = AppState::open(Config {
        database_url: url.clone(),
        argon2_memory_kib: 64,
        argon2_iterations: 1,
        rate_limit_per_minute: u32::MAX,
        ..Config::default()
    })
    .await
    .expect("gateway");
    kasir_gateway::bootstrap_admin(&state, Some(ADMIN.0.into()), Some(ADMIN.1.into()))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = Http {
        base: format!("http://{}", listener.local_addr().unwrap()),
        client: reqwest::Client::new(),
    };
    tokio::spawn(kasir_gateway::serve(state, listener));
    let login = http
        .json(
            "POST",
            "/api/auth/login",
            "",
            json!({ "username": ADMIN.0, "password": ADMIN.1 }),
        )
        .await;
    let admin = login["access_token"].as_str().unwrap().to_string();
    let catalog = demo::products(1_000, 3);
    let rows: Vec<Value> = catalog
        .iter()
        .map(|p| json!({ "sku": p.sku, "name": p.name, "suggested_price": p.selling_price }))
        .collect();
    http.json("POST", "/api/products/import", &admin, Value::Array(rows))
        .await;
    let mut tokens = Vec::new();
    for code in ["DIRECT-01", "LEADER-01"] {
        let s = http
            .json(
                "POST",
                "/api/stores",
                &admin,
                json!({ "store_code": code, "store_name": code }),
            )
            .await;
        let d = http
            .json(
                "POST",
                &format!("/api/stores/{}/devices", s["id"]),
                &admin,
                json!({ "name": "bench" }),
            )
            .await;
        tokens.push(d["token"].as_str().unwrap().to_string());
    }
    let sales_of = |store: &str| -> Vec<kasir_node::schema::domain::Sale> {
        (2..=5u32)
            .flat_map(|lane| {
                demo::sales(&SalesPlan {
                    catalog: &catalog,
                    store: StoreCode::new(store).unwrap(),
                    lane: LaneNo::new(lane).unwrap(),
                    first_seq: 1,
                    days: 1,
                    per_day: per_lane,
                    until: chrono::Utc::now(),
                    // Sale ids are chain-wide: each store's sales of its own.
                    seed: u64::from(lane) + if store == "DIRECT-01" { 0 } else { 100 },
                })
                .unwrap()
            })
            .collect()
    };
    let n = 4 * per_lane as usize;
    let lines: usize = sales_of("DIRECT-01").iter().map(|s| s.lines.len()).sum();
    println!(
        "forward_bench: {url}, {n} sales of 4 lanes ({:.1} lines each on average), batches of {batch}",
        lines as f64 / n as f64
    );

    // Direct: ready-made bodies, as HQ's own ingest sees them.
    let direct = sales_of("DIRECT-01");
    let bodies: Vec<Vec<u8>> = direct
        .chunks(batch)
        .map(|c| {
            serde_json::to_vec(&SyncUploadRequest {
                store_id: "DIRECT-01".into(),
                data: SyncUploadData {
                    transactions: c.iter().map(UploadTransaction::from).collect(),
                    ..SyncUploadData::default()
                },
            })
            .unwrap()
        })
        .collect();
    let t = Instant::now();
    for b in &bodies {
        let a = http.upload(&tokens[0], b).await;
        assert_eq!(
            a.processed.transactions.failed,
            0,
            "{:?}",
            a.processed.transactions.errors.first()
        );
    }
    let direct_rate = n as f64 / t.elapsed().as_secs_f64();
    println!(
        "{:<44} {n:>6} sales {:>6.2} s {direct_rate:>8.0} sales/s",
        "direct (ready-made bodies)",
        t.elapsed().as_secs_f64()
    );

    // Through the leader: its outbox holds the other lanes' sales, merged.
    let lane_dir = tempfile::tempdir().unwrap();
    let mut till = Till::open(
        lane_dir.path().join("lane.db"),
        TillOptions {
            auth: AuthParams::fast_for_tests(),
            ..TillOptions::new(kasir_node::env::system())
        },
    )
    .unwrap();
    till.set_up(
        default_store_config("LEADER-01", "Leader").unwrap(),
        LaneNo::new(1).unwrap(),
        NewUser {
            username: "maya".into(),
            full_name: "Maya".into(),
            role: Role::Manager,
            pin: "9999".into(),
        },
    )
    .unwrap();
    till.import_products(&catalog).unwrap();
    let sales = sales_of("LEADER-01");
    let t = Instant::now();
    till.import_sales(&sales).unwrap();
    println!(
        "(the leader's outbox: {} records, filled in {:.1} s)",
        till.outbox_waiting().unwrap(),
        t.elapsed().as_secs_f64()
    );
    let (mut raw, mut packed, mut sent) = (0usize, 0usize, 0usize);
    let t = Instant::now();
    while let Some(b) = till.hq_batch(batch).unwrap() {
        let body = serde_json::to_vec(&b.request).unwrap();
        raw += body.len();
        packed += gzip(&body).len();
        sent += b.request.data.transactions.len();
        let answer = http.upload(&tokens[1], &body).await;
        let settled = till.hq_confirm(&b, &answer.processed).unwrap();
        assert!(settled.refused.is_empty(), "{:?}", settled.refused.first());
    }
    let leader_rate = n as f64 / t.elapsed().as_secs_f64();
    assert_eq!(sent, n);
    assert_eq!(till.outbox_waiting().unwrap(), 0);
    println!(
        "{:<44} {n:>6} sales {:>6.2} s {leader_rate:>8.0} sales/s",
        "through the leader (batch, gzip, confirm)",
        t.elapsed().as_secs_f64()
    );
    println!(
        "bytes per forwarded sale: {:.0} uncompressed, {:.0} gzip ({:.1}x smaller)",
        raw as f64 / n as f64,
        packed as f64 / n as f64,
        raw as f64 / packed as f64
    );
    println!("ratio leader / direct: {:.2}", leader_rate / direct_rate);
}
