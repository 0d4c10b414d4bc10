//! LAN replication benchmarks over real iroh on loopback (issue #4). Run in release:
//!
//! ```sh
//! cargo run --release -p kasir-node --example lan_bench -- [--lanes N] [--sales S] [--throughput-secs T]
//! cargo run --release -p kasir-node --example lan_bench -- --bootstrap [--products P] [--customers C] [--per-day S]
//! ```
//!
//! - latency: one sale at a time, from each lane in turn; the time from `pay` returning on the
//!   selling lane until every other lane has applied it (stored with its projections: the
//!   lane's live view reports the sale); p50/p99 over S sales;
//! - throughput: every lane sells as fast as it can for T seconds while replicating; sales per
//!   second across all lanes, and how long the lanes then need to converge;
//! - bytes on the wire per sale, in both phases: UDP bytes all endpoints sent (QUIC, gossip
//!   announcements and acknowledgements included) divided by the sales sold;
//! - bootstrap (`--bootstrap`): a store with P products, C customers and a day of sales of four
//!   lanes (S each) on lane 1; a lane with an empty disk joins, and the time until it holds
//!   every product, customer and sale and both lanes hold the same heads of every document
//!   (progress printed each second).
// Floats here are timings for a report, never money.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    clippy::float_arithmetic
)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use iroh::{EndpointAddr, SecretKey};
use kasir_node::lan::LanConfig;
use kasir_node::schema::Decimal;
use kasir_node::schema::payment::Tender;
use kasir_node::schema::roles::Role;
use kasir_node::schema::txn_number::LaneNo;
use kasir_node::types::{AuthParams, LiveEvent, NewUser, default_store_config};
use kasir_node::{Command, Node, NodeEvent, NodeOptions, demo};
use tokio::sync::mpsc;

struct Args {
    lanes: usize,
    sales: usize,
    throughput_secs: u64,
    bootstrap: bool,
    products: usize,
    customers: usize,
    per_day: u32,
}

fn args() -> Args {
    let mut a = Args {
        lanes: 3,
        sales: 300,
        throughput_secs: 10,
        bootstrap: false,
        products: 100_000,
        customers: 50_000,
        per_day: 1_096,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let mut num = || {
            it.next()
                .and_then(|v| v.parse::<usize>().ok())
                .expect("a number")
        };
        match x.as_str() {
            "--lanes" => a.lanes = num(),
            "--sales" => a.sales = num(),
            "--throughput-secs" => a.throughput_secs = num() as u64,
            "--bootstrap" => a.bootstrap = true,
            "--products" => a.products = num(),
            "--customers" => a.customers = num(),
            "--per-day" => a.per_day = num() as u32,
            other => panic!(
                "unknown argument {other} (--lanes N --sales S --throughput-secs T | --bootstrap --products P --customers C --per-day S)"
            ),
        }
    }
    a
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Runs a blocking call of the node API off the runtime's threads.
async fn on<T: Send + 'static>(node: &Node, f: impl FnOnce(&Node) -> T + Send + 'static) -> T {
    let node = node.clone();
    tokio::task::spawn_blocking(move || f(&node)).await.unwrap()
}

async fn sell(lane: &Node, sku: String) -> String {
    on(lane, move |n| {
        n.execute(Command::AddSku {
            sku,
            quantity: Decimal::ONE,
        })
        .unwrap();
        n.pay(vec![Tender::cash(Decimal::from(10_000_000))])
            .unwrap()
            .number
    })
    .await
}

async fn count_sales(lane: &Node) -> i64 {
    on(lane, |n| n.counts().unwrap().sales).await
}

fn options() -> NodeOptions {
    NodeOptions {
        auth: AuthParams::fast_for_tests(),
        maintenance_every: std::env::var("KB_MAINT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(50),
        // Several lanes share this process: none takes a core of its own.
        own_core: false,
        ..NodeOptions::default()
    }
}

fn manager() -> NewUser {
    NewUser {
        username: "maya".into(),
        full_name: "Maya".into(),
        role: Role::Manager,
        pin: "9999".into(),
    }
}

/// A set-up lane of store JKT01, the manager logged in, a shift open.
fn bench_lane(path: std::path::PathBuf, lane: u32) -> Node {
    let node = Node::open(path, options()).unwrap();
    node.execute(Command::SetUp {
        config: Box::new(default_store_config("JKT01", "Bench").unwrap()),
        lane: LaneNo::new(lane).unwrap(),
        manager: manager(),
    })
    .unwrap();
    node.execute(Command::Login {
        username: "maya".into(),
        pin: "9999".into(),
    })
    .unwrap();
    node.execute(Command::OpenShift {
        float: Decimal::ZERO,
    })
    .unwrap();
    node
}

async fn addr_of(node: &Node, key: &SecretKey) -> EndpointAddr {
    let mut a = EndpointAddr::new(key.public());
    for ip in node.lan_addrs().await {
        a = a.with_ip_addr(ip);
    }
    a
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    if a.bootstrap {
        bootstrap(&a).await;
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<SecretKey> = (0..a.lanes).map(|_| SecretKey::generate()).collect();
    let members: BTreeSet<_> = keys.iter().map(SecretKey::public).collect();
    // (lane index, lane of the sale, when) for every sale of another lane a lane stored.
    let (changed_tx, mut changed_rx) = mpsc::unbounded_channel::<(usize, u16, Instant)>();
    let mut lanes: Vec<Node> = Vec::new();
    let mut addrs: Vec<EndpointAddr> = Vec::new();
    let products = demo::products(500, 3);
    for (i, key) in keys.iter().enumerate() {
        let path = dir.path().join(format!("lane{}.db", i + 1));
        let node = bench_lane(path, i as u32 + 1);
        if i == 0 {
            node.execute(Command::ImportProducts(products.clone()))
                .unwrap();
        }
        let mut config = LanConfig::new(key.clone(), "127.0.0.1:0".parse().unwrap());
        config.members = members.clone();
        config.peers = addrs.clone();
        let mut log = node.events();
        node.join_lan(config).await.unwrap();
        addrs.push(addr_of(&node, key).await);
        let tx = changed_tx.clone();
        tokio::spawn(async move {
            loop {
                match log.recv().await {
                    Ok(NodeEvent::Live(LiveEvent::Sale { lane, .. })) => {
                        let _ = tx.send((i, lane, Instant::now()));
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
        });
        lanes.push(node);
    }
    // Wait for the catalog everywhere.
    let start_wait = Instant::now();
    loop {
        let mut ok = true;
        for l in &lanes {
            ok &= on(l, |n| n.product("P000499").unwrap().is_some()).await;
        }
        if ok {
            break;
        }
        assert!(
            start_wait.elapsed() < Duration::from_secs(120),
            "catalog did not replicate"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "{} lanes on loopback, catalog of 500 products replicated in {:.2?}",
        a.lanes,
        start_wait.elapsed()
    );

    // Latency: one sale at a time.
    let wire_before = wire(&lanes).await;
    let mut latencies = Vec::with_capacity(a.sales);
    for k in 0..a.sales {
        let seller = k % a.lanes;
        let seller_lane = seller as u16 + 1;
        while changed_rx.try_recv().is_ok() {}
        sell(&lanes[seller], format!("P{:06}", k % 500)).await;
        let t0 = Instant::now();
        let mut seen: BTreeSet<usize> = BTreeSet::new();
        let mut last = t0;
        while seen.len() < a.lanes - 1 {
            let (i, d, at) = tokio::time::timeout(Duration::from_secs(30), changed_rx.recv())
                .await
                .expect("a sale did not replicate within 30 s")
                .unwrap();
            if d == seller_lane && i != seller && seen.insert(i) {
                last = last.max(at);
            }
        }
        latencies.push(last.saturating_duration_since(t0));
    }
    // Let the last acknowledgements and one round of announcements go out.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let wire_quiet = wire(&lanes).await - wire_before;
    latencies.sort();
    println!(
        "sale committed on one lane → applied on all {} others: n={} p50={:.2?} p99={:.2?} max={:.2?}",
        a.lanes - 1,
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1]
    );

    println!(
        "wire, one sale at a time: {} UDP bytes for {} sales = {} bytes per sale ({} per receiving lane)",
        wire_quiet,
        a.sales,
        wire_quiet / a.sales as u64,
        wire_quiet / (a.sales as u64 * (a.lanes as u64 - 1))
    );

    // Throughput: everyone sells flat out.
    let before: i64 = count_sales(&lanes[0]).await;
    let wire_before = wire(&lanes).await;
    let started = Instant::now();
    let stop = started + Duration::from_secs(a.throughput_secs);
    let mut tasks = Vec::new();
    for (i, lane) in lanes.iter().enumerate() {
        let lane = lane.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0usize;
            while Instant::now() < stop {
                sell(&lane, format!("P{:06}", (i * 31 + n) % 500)).await;
                n += 1;
            }
            n
        }));
    }
    let mut sold = 0usize;
    for t in tasks {
        sold += t.await.unwrap();
    }
    let selling = started.elapsed();
    let expected = before + sold as i64;
    let mut last_report = Instant::now();
    loop {
        let mut counts = Vec::new();
        for l in &lanes {
            counts.push(count_sales(l).await);
        }
        if counts.iter().all(|c| *c == expected) {
            break;
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!("waiting: {expected} sales expected, lanes hold {counts:?}");
            last_report = Instant::now();
            // Which documents differ between the lanes (their stored heads).
            let mut manifests = Vec::new();
            for l in &lanes {
                manifests.push(on(l, |n| n.counts().unwrap().documents).await);
            }
            for (i, m) in manifests.iter().enumerate().skip(1) {
                let differ: Vec<String> = m
                    .iter()
                    .zip(&manifests[0])
                    .filter(|(a, b)| a != b)
                    .map(|(a, _)| a.0.as_str().to_string())
                    .collect();
                if !differ.is_empty() || m.len() != manifests[0].len() {
                    eprintln!(
                        "  lane {} vs lane 1: documents differ: {differ:?} ({} vs {})",
                        i + 1,
                        m.len(),
                        manifests[0].len()
                    );
                }
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "lanes did not converge: {expected} sales expected, lanes hold {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let converged = started.elapsed();
    let wire_busy = wire(&lanes).await - wire_before;
    println!(
        "throughput: {} sales in {:.1?} across {} lanes = {:.0} sales/s; every lane had all of them {:.2?} after selling stopped ({:.0} sales/s end to end)",
        sold,
        selling,
        a.lanes,
        sold as f64 / selling.as_secs_f64(),
        converged.saturating_sub(selling),
        sold as f64 / converged.as_secs_f64()
    );
    println!(
        "wire, flat out: {} UDP bytes for {} sales = {} bytes per sale ({} per receiving lane)",
        wire_busy,
        sold,
        wire_busy / sold as u64,
        wire_busy / (sold as u64 * (a.lanes as u64 - 1))
    );
    for l in &lanes {
        l.shutdown().await;
    }
}

/// UDP bytes all lanes sent.
async fn wire(lanes: &[Node]) -> u64 {
    let mut n = 0;
    for l in lanes {
        n += l.udp_bytes_sent().await;
    }
    n
}

async fn bootstrap(a: &Args) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = default_store_config("JKT01", "Bench").unwrap();
    let t = Instant::now();
    let first = bench_lane(dir.path().join("lane1.db"), 1);
    let products = demo::products(a.products, 1);
    first
        .execute(Command::ImportProducts(products.clone()))
        .unwrap();
    first
        .execute(Command::ImportCustomers(demo::customers(a.customers, 1)))
        .unwrap();
    let mut day = 0;
    for lane in 1..=4u32 {
        let sales = demo::sales(&demo::SalesPlan {
            catalog: &products,
            store: cfg.code.clone(),
            lane: LaneNo::new(lane).unwrap(),
            first_seq: 1,
            days: 1,
            per_day: a.per_day,
            until: chrono::Utc::now(),
            seed: u64::from(lane),
        })
        .unwrap();
        day += sales.len();
        first.execute(Command::ImportSales(sales)).unwrap();
    }
    first.execute(Command::Maintenance).unwrap();
    let d = first.diagnostics().unwrap();
    println!(
        "store on lane 1: {} products, {} customers, {} sales ({} lines) of today from 4 lanes, {} documents; built in {:.1?}",
        a.products,
        a.customers,
        day,
        d.sale_lines,
        d.documents.len(),
        t.elapsed()
    );
    let k1 = SecretKey::generate();
    let k2 = SecretKey::generate();
    let mut c1 = LanConfig::new(k1.clone(), "127.0.0.1:0".parse().unwrap());
    c1.members = BTreeSet::from([k2.public()]);
    first.join_lan(c1).await.unwrap();

    let newcomer = Node::open(dir.path().join("lane5.db"), options()).unwrap();
    newcomer
        .execute(Command::SetUp {
            config: Box::new(cfg.clone()),
            lane: LaneNo::new(5).unwrap(),
            manager: manager(),
        })
        .unwrap();
    let mut c2 = LanConfig::new(k2, "127.0.0.1:0".parse().unwrap());
    c2.peers = vec![addr_of(&first, &k1).await];
    let started = Instant::now();
    newcomer.join_lan(c2).await.unwrap();
    let mut last_report = Instant::now();
    loop {
        let mine = on(&newcomer, |n| n.counts().unwrap()).await;
        // Converged: the newcomer holds every row, and both lanes hold the same changes of every
        // document (the newcomer's own set-up changes reach lane 1 too, so compare with lane 1
        // now, not with a snapshot taken before the newcomer started).
        let expected = on(&first, |n| n.counts().unwrap().documents).await;
        let counts = (mine.products, mine.customers, mine.sales);
        let have_all = counts == (a.products as i64, a.customers as i64, day as i64)
            && expected.len() == mine.documents.len()
            && expected.iter().all(|d| mine.documents.contains(d));
        if have_all {
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            println!(
                "  {:.1?}: {} of {} documents the same on both lanes, {} products, {} customers, {} sales",
                started.elapsed(),
                expected
                    .iter()
                    .filter(|d| mine.documents.contains(d))
                    .count(),
                expected.len(),
                counts.0,
                counts.1,
                counts.2
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "no bootstrap after 10 minutes: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed();
    println!(
        "bootstrap of an empty lane: every document, product, customer and sale in {:.2?} ({} UDP bytes sent by lane 1)",
        took,
        first.udp_bytes_sent().await
    );
    newcomer.shutdown().await;
    first.shutdown().await;
}
