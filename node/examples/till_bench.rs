//! Till engine benchmarks (issue #3). Run in release:
//!
//! ```sh
//! cargo run --release -p kasir-node --example till_bench -- all
//! ```
//!
//! - `lookup`: barcode → product over 100k products, each lookup timed: p50/p99/max.
//! - `commit`: durable commit of a 5-line cash sale (`Till::pay`), beside the raw cost of
//!   `write + fdatasync` of 4 KiB on the same disk, measured interleaved in the same run.
//! - `cold-start`: a lane holding 100k products, 50k customers and a year of sales (2M sale
//!   lines) is started in a fresh process: time until the first barcode lookup answers, peak
//!   RSS, then the first sale; plus document sizes on disk. `--drop-caches` (root) makes each
//!   start disk-cold.
//!
//! Data is generated once into `--dir` (default `/var/tmp/kasir-bench`) and reused.
// Floats here are timings and sizes for a report, never money.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    clippy::float_arithmetic
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;
use kasir_core::demo;
use kasir_core::{AuthParams, NewUser, Till, TillOptions, default_store_config};
use kasir_node::schema::Decimal;
use kasir_node::schema::payment::Tender;
use kasir_node::schema::roles::Role;
use kasir_node::schema::txn_number::LaneNo;
use rand::{Rng, SeedableRng};

struct Args {
    what: String,
    dir: PathBuf,
    products: usize,
    customers: usize,
    days: u32,
    per_day: u32,
    samples: usize,
    drop_caches: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        what: "all".into(),
        dir: PathBuf::from("/var/tmp/kasir-bench"),
        products: 100_000,
        customers: 50_000,
        days: 365,
        per_day: 1_096, // × 5 lines on average ≈ 2M lines a year
        samples: 2_000,
        drop_caches: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |name: &str| -> usize {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match arg.as_str() {
            "--dir" => a.dir = PathBuf::from(it.next().expect("--dir needs a path")),
            "--products" => a.products = num("--products"),
            "--customers" => a.customers = num("--customers"),
            "--days" => a.days = num("--days") as u32,
            "--per-day" => a.per_day = num("--per-day") as u32,
            "--samples" => a.samples = num("--samples"),
            "--drop-caches" => a.drop_caches = true,
            "-h" | "--help" => {
                println!(
                    "usage: till_bench [lookup|commit|cpu|cold-start|all] [--dir DIR] [--products N] \
                     [--customers N] [--days D] [--per-day S] [--samples N] [--drop-caches]"
                );
                std::process::exit(0);
            }
            w => a.what = w.to_string(),
        }
    }
    a
}

fn options() -> TillOptions {
    TillOptions {
        auth: AuthParams::fast_for_tests(),
        env: kasir_node::env::system(),
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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn summary(name: &str, mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    let (p50, p99) = (percentile(&v, 0.50), percentile(&v, 0.99));
    println!(
        "{name:<44} n={:<7} p50={:>10.1?} p99={:>10.1?} max={:>10.1?}",
        v.len(),
        p50,
        p99,
        v[v.len() - 1]
    );
    (p50, p99)
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// The big lane: generated once, reused by later runs.
fn big_store(a: &Args) -> PathBuf {
    let size = demo::BigLane {
        products: a.products,
        customers: a.customers,
        days: a.days,
        per_day: a.per_day,
    };
    demo::big_lane(&a.dir, size, options(), Utc::now(), &mut |s| {
        eprintln!("{s}")
    })
    .expect("generating the big lane")
}

/// A lane's ledger file (beside its lane file).
fn ledger_path(path: &Path) -> PathBuf {
    kasir_core::db::ledger_path(path)
}

use demo::remove_lane;

fn bench_lookup(a: &Args) {
    let path = big_store(a);
    let till = Till::open(&path, options()).unwrap();
    let products = demo::products(a.products, 1);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let nomenclature = kasir_node::schema::barcode::Nomenclature::default();
    // Warm the statement cache and the page cache the way a lane running all day has them.
    for p in products.iter().step_by(97) {
        till.product_by_barcode(p.barcode.as_deref().unwrap())
            .unwrap();
    }
    let mut lookup = Vec::with_capacity(100_000);
    let mut scan = Vec::with_capacity(100_000);
    for _ in 0..100_000 {
        let code = products[rng.random_range(0..products.len())]
            .barcode
            .clone()
            .unwrap();
        let t = Instant::now();
        let hit = till.product_by_barcode(&code).unwrap();
        lookup.push(t.elapsed());
        assert!(hit.is_some());
        // Another random product, so this row does not find the page the line above read.
        let code = products[rng.random_range(0..products.len())]
            .barcode
            .clone()
            .unwrap();
        let t = Instant::now();
        let parsed = kasir_node::schema::barcode::parse(&code, &nomenclature).unwrap();
        let key = match parsed {
            kasir_node::schema::barcode::Scanned::Gtin(g) => g.key,
            kasir_node::schema::barcode::Scanned::VariableMeasure(v) => v.lookup_key(),
        };
        std::hint::black_box(till.product_by_barcode(&key).unwrap());
        scan.push(t.elapsed());
    }
    let miss_t = Instant::now();
    for i in 0..10_000 {
        std::hint::black_box(till.product_by_barcode(&format!("1{i:012}")).unwrap());
    }
    println!("lookup over {} products ({})", a.products, path.display());
    summary("  product_by_barcode (hit)", lookup);
    summary("  parse + product_by_barcode (hit)", scan);
    println!("  miss: {:.1?} per lookup (10k)", miss_t.elapsed() / 10_000);
    let t = Instant::now();
    let hits = till.search_products("kopi gula", 20).unwrap().len()
        + till.search_products("Indo", 20).unwrap().len();
    println!("  name search ×2: {:.1?} ({hits} hits)", t.elapsed());
}

fn bench_commit(a: &Args) {
    std::fs::create_dir_all(&a.dir).unwrap();
    let path = a.dir.join("commit-bench.db");
    remove_lane(&path);
    let mut till = Till::open(&path, options()).unwrap();
    till.set_up(
        default_store_config("JKT01", "Bench").unwrap(),
        LaneNo::new(1).unwrap(),
        manager(),
    )
    .unwrap();
    till.login("maya", "9999").unwrap();
    let products = demo::products(1_000, 3);
    till.import_products(&products).unwrap();
    till.open_shift(Decimal::from(500_000)).unwrap();
    let floor_path = a.dir.join("fsync-floor.bin");
    let mut floor_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&floor_path)
        .unwrap();
    let block = vec![0x5Au8; 4096];
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let (mut commits, mut floors, mut cpu, mut projections) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let sync_idle = std::env::var_os("KASIR_BENCH_IDLE_CHECKPOINT").is_some();
    // Interleave: each round does one sale and one raw fsync, so disk noise hits both alike.
    for i in 0..a.samples + 50 {
        for _ in 0..5 {
            let p = &products[rng.random_range(0..products.len())];
            let q = if p.unit == kasir_node::schema::domain::SaleUnit::Kilogram {
                Decimal::new(750, 3)
            } else {
                Decimal::ONE
            };
            till.add_sku(&p.sku, q).unwrap();
        }
        // Every 4th sale runs with synchronous=OFF: the same work without the fsync, to show
        // how the commit splits into CPU and disk.
        let cpu_only = i % 4 == 3;
        if cpu_only {
            till.ledger_connection()
                .execute_batch("PRAGMA synchronous = OFF")
                .unwrap();
        }
        // What the cashier waits for: the sale made durable (`commit_sale`), as the till app
        // pays. Its projections follow right after, between customers (timed apart).
        let t = Instant::now();
        till.commit_sale(&[Tender::cash(Decimal::from(10_000_000))])
            .unwrap();
        let commit = t.elapsed();
        if cpu_only {
            till.ledger_connection()
                .execute_batch("PRAGMA synchronous = FULL")
                .unwrap();
        }
        let t = Instant::now();
        till.project_pending().unwrap();
        let projection = t.elapsed();
        if sync_idle {
            till.connection()
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                .unwrap();
        }
        let t = Instant::now();
        floor_file.write_all(&block).unwrap();
        floor_file.sync_data().unwrap();
        let floor = t.elapsed();
        // Between customers the lane does its housekeeping (outside the timed commit).
        if i % 50 == 49 {
            till.maintenance().unwrap();
        }
        if i >= 50 {
            if cpu_only {
                cpu.push(commit);
            } else {
                commits.push(commit);
            }
            projections.push(projection);
            floors.push(floor);
        }
    }
    let _ = std::fs::remove_file(&floor_path);
    println!("durable commit on {}", a.dir.display());
    let (c50, c99) = summary("  pay: 5-line cash sale made durable (FULL)", commits);
    summary("  pay, same work with synchronous=OFF", cpu);
    summary("  its projections, between customers", projections);
    let (f50, f99) = summary("  raw write 4 KiB + fdatasync", floors);
    println!(
        "  ratio commit/fsync: p50 {:.2}×, p99 {:.2}×",
        c50.as_secs_f64() / f50.as_secs_f64(),
        c99.as_secs_f64() / f99.as_secs_f64()
    );
}

/// `pay` with `synchronous=OFF` only: the CPU a durable sale costs besides its fsync (for
/// profiling: `perf record … till_bench cpu`). Housekeeping runs between customers every 50
/// sales, outside the timed `pay`, as the till app does.
fn bench_cpu(a: &Args) {
    std::fs::create_dir_all(&a.dir).unwrap();
    let path = a.dir.join("cpu-bench.db");
    remove_lane(&path);
    let mut till = Till::open(&path, options()).unwrap();
    till.set_up(
        default_store_config("JKT01", "Bench").unwrap(),
        LaneNo::new(1).unwrap(),
        manager(),
    )
    .unwrap();
    till.login("maya", "9999").unwrap();
    let products = demo::products(1_000, 3);
    till.import_products(&products).unwrap();
    till.open_shift(Decimal::from(500_000)).unwrap();
    for conn in [till.connection(), till.ledger_connection()] {
        conn.execute_batch("PRAGMA synchronous = OFF").unwrap();
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let (mut times, mut projections, mut both) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..a.samples + 50 {
        for _ in 0..5 {
            let p = &products[rng.random_range(0..products.len())];
            till.add_sku(&p.sku, Decimal::ONE).unwrap();
        }
        let t = Instant::now();
        till.commit_sale(&[Tender::cash(Decimal::from(10_000_000))])
            .unwrap();
        let commit = t.elapsed();
        let t = Instant::now();
        till.project_pending().unwrap();
        let projection = t.elapsed();
        if i >= 50 {
            times.push(commit);
            projections.push(projection);
            both.push(commit + projection);
        }
        if i % 50 == 49 {
            till.maintenance().unwrap();
        }
    }
    summary("  pay (sale made durable), CPU only", times);
    summary("  its projections, between customers", projections);
    summary("  both: all the CPU of a sale", both);
}

fn cold_start_child(path: &Path, barcode: &str) {
    let t = Instant::now();
    let mut till = Till::open(path, options()).unwrap();
    let p = till.product_by_barcode(barcode).unwrap().expect("product");
    let ready = t.elapsed();
    let rss_ready = peak_rss_mib();
    till.login("maya", "9999").unwrap();
    if till.current_shift().unwrap().is_none() {
        till.open_shift(Decimal::ZERO).unwrap();
    }
    till.add_sku(&p.sku, Decimal::ONE).unwrap();
    let t2 = Instant::now();
    till.pay(&[Tender::cash(Decimal::from(10_000_000))])
        .unwrap();
    let first_sale = t2.elapsed();
    println!(
        "{} {} {} {}",
        ready.as_micros(),
        rss_ready,
        first_sale.as_micros(),
        peak_rss_mib()
    );
}

fn bench_cold_start(a: &Args) {
    let path = big_store(a);
    let barcode = demo::products(1, 1)[0].barcode.clone().unwrap();
    let exe = std::env::current_exe().unwrap();
    println!(
        "cold start: {} products, {} customers, {} days × {} sales{}",
        a.products,
        a.customers,
        a.days,
        a.per_day,
        if a.drop_caches {
            ", page cache dropped before each start"
        } else {
            ""
        }
    );
    let mut ready = Vec::new();
    let mut first_sale = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..5 {
        if a.drop_caches {
            // A disk-cold start: flush and drop the page cache (needs root).
            let _ = std::process::Command::new("sync").status();
            if std::fs::write("/proc/sys/vm/drop_caches", "3").is_err() {
                eprintln!("  (could not drop the page cache: run as root for a disk-cold start)");
            }
        }
        let out = std::process::Command::new(&exe)
            .args(["cold-start-child", path.to_str().unwrap(), &barcode])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8_lossy(&out.stdout);
        let f: Vec<f64> = line
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        ready.push(Duration::from_micros(f[0] as u64));
        first_sale.push(Duration::from_micros(f[2] as u64));
        rss.push((f[1], f[3]));
    }
    summary("  open → first barcode lookup answered", ready);
    summary(
        "  first sale after start (loads today's ledger)",
        first_sale,
    );
    let worst = rss
        .iter()
        .fold((0.0f64, 0.0f64), |m, r| (m.0.max(r.0), m.1.max(r.1)));
    println!(
        "  peak RSS: {:.1} MiB when ready, {:.1} MiB after the first sale",
        worst.0, worst.1
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let lines: i64 = conn
        .query_row("SELECT count(*) FROM transaction_details", [], |r| r.get(0))
        .unwrap();
    let mib = |p: &Path| std::fs::metadata(p).map_or(0.0, |m| m.len() as f64 / 1_048_576.0);
    println!(
        "  lane file {:.1} MiB, ledger file {:.1} MiB, {} sale lines",
        mib(&path),
        mib(&ledger_path(&path)),
        lines
    );
    // Documents live in both files: the lane's own ledger documents in its ledger file.
    conn.execute(
        "ATTACH DATABASE ?1 AS ledger",
        [ledger_path(&path).to_string_lossy()],
    )
    .unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT substr(doc_id, 1, instr(doc_id, '/') - 1) AS kind, count(DISTINCT doc_id),
                    SUM(length(snapshot)), MAX(length(snapshot))
             FROM (SELECT doc_id, snapshot FROM main.crdt_docs
                   UNION ALL SELECT doc_id, snapshot FROM ledger.crdt_docs)
             GROUP BY kind",
        )
        .unwrap();
    for row in stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .unwrap()
    {
        let (kind, n, bytes_sum, max_bytes) = row.unwrap();
        println!(
            "  documents {kind:<10} {n:>5} docs, {:>8.1} KiB total, largest {:>7.1} KiB",
            bytes_sum as f64 / 1024.0,
            max_bytes as f64 / 1024.0
        );
    }
}

fn main() {
    let mut raw = std::env::args().skip(1);
    if raw.next().as_deref() == Some("cold-start-child") {
        let path = PathBuf::from(raw.next().unwrap());
        cold_start_child(&path, &raw.next().unwrap());
        return;
    }
    let a = parse_args();
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/cpuinfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("model name\t: "))
            .unwrap_or("unknown CPU")
    );
    match a.what.as_str() {
        "lookup" => bench_lookup(&a),
        "commit" => bench_commit(&a),
        "cpu" => bench_cpu(&a),
        "cold-start" => bench_cold_start(&a),
        "all" => {
            bench_commit(&a);
            bench_lookup(&a);
            bench_cold_start(&a);
        }
        other => {
            eprintln!("unknown benchmark {other:?}: lookup, commit, cold-start or all");
            std::process::exit(2);
        }
    }
}
