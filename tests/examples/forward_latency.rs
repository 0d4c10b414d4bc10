//! A sale on a lane that does not lead → its row in HQ's database (issue #12): two lanes over
//! iroh on loopback (default settings: status every 1 s, the HQ driver checking for waiting
//! records every second when idle), lane 1 leading, a gateway on SQLite (or
//! `--database-url`). One sale at a time on lane 2, at a random moment; the time from `pay`
//! returning to the sale being listed by `GET /api/transactions?number=` (polled every 10 ms).
//!
//! ```sh
//! cargo run --release -p kasir-tests --example forward_latency -- [--sales 100]
//! ```
// Floats here are timings for a report, never money.
#![allow(clippy::float_arithmetic, clippy::cast_precision_loss)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use iroh::{EndpointAddr, SecretKey};
use kasir_node::lan::LanConfig;
use kasir_node::types::HqCredential;
use kasir_node::{Command, Node, demo};
use kasir_tests::{Hq, lane, wait_for};
use rand::Rng;
use serde_json::Value;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("forward_latency [--sales N]   (KASIR_TEST_MYSQL_URL: HQ on MariaDB)");
        return;
    }
    let sales: usize = args
        .iter()
        .position(|a| a == "--sales")
        .and_then(|i| args.get(i + 1))
        .map_or(100, |v| v.parse().expect("--sales N"));
    let hq = Hq::start().await;
    let products = demo::products(20, 8);
    hq.import_catalog(&products).await;
    let (_, token) = hq.device().await;
    let dir = tempfile::tempdir().unwrap();
    let lanes: Vec<Node> = (1..=2).map(|n| lane(dir.path(), n)).collect();
    lanes[0]
        .execute(Command::ImportProducts(products.clone()))
        .unwrap();
    let keys: Vec<SecretKey> = (0..2).map(|_| SecretKey::generate()).collect();
    let members: BTreeSet<iroh::EndpointId> = keys.iter().map(SecretKey::public).collect();
    let mut first: Option<EndpointAddr> = None;
    for (i, l) in lanes.iter().enumerate() {
        let mut c = LanConfig::new(keys[i].clone(), "127.0.0.1:0".parse().unwrap());
        c.members = members.clone();
        c.peers = first.iter().cloned().collect();
        l.join_lan(c).await.unwrap();
        if i == 0 {
            let mut a = EndpointAddr::new(keys[0].public());
            for ip in l.lan_addrs().await {
                a = a.with_ip_addr(ip);
            }
            first = Some(a);
        }
    }
    lanes[0]
        .execute(Command::ConnectHq(HqCredential {
            url: hq.base.clone(),
            token,
        }))
        .unwrap();
    wait_for("lane 1 leads", Duration::from_secs(60), async || {
        lanes.iter().all(|l| l.hq_status().leader == Some(1))
    })
    .await;
    wait_for(
        "the catalog on lane 2",
        Duration::from_secs(60),
        async || lanes[1].product("P000001").ok().flatten().is_some(),
    )
    .await;
    let mut rng = rand::rng();
    let mut took = Vec::with_capacity(sales);
    for k in 0..sales {
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..1000))).await;
        let number = kasir_tests::sell(&lanes[1], k).await;
        let paid = Instant::now();
        loop {
            let (s, v) = hq
                .call(
                    "GET",
                    &format!("/api/transactions?store_id={}&number={number}", hq.store_id),
                    Some(&hq.admin),
                    Value::Null,
                )
                .await;
            if s == 200 && v["data"].as_array().is_some_and(|a| !a.is_empty()) {
                break;
            }
            assert!(
                paid.elapsed() < Duration::from_secs(60),
                "{number} never reached HQ"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        took.push(paid.elapsed());
    }
    took.sort();
    // The smallest value at or above `pct` percent of the measurements.
    let at = |pct: usize| took[(took.len() * pct).div_ceil(100).clamp(1, took.len()) - 1];
    println!(
        "forward_latency: {sales} sales on lane 2 (not leading) → row at HQ: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        at(50).as_secs_f64() * 1e3,
        at(99).as_secs_f64() * 1e3,
        took[took.len() - 1].as_secs_f64() * 1e3
    );
    for l in &lanes {
        l.shutdown().await;
    }
}
