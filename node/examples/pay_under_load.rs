//! Does a sale wait for the network? (issue #10) `pay` on a lane, timed as the till app sees it
//! (through `kasir_node::Node`), and each scan before it (`AddSku`: the line on screen), in
//! three phases of one run:
//!
//! 1. idle: the lane is on the LAN, nobody else is there, for `--idle-seconds` (45 by default,
//!    as long as the busy phase: see below);
//! 2. bootstrap: an empty lane joins and takes the whole store from this one (100k products,
//!    50k customers by default);
//! 3. busy peers: three more lanes sell flat out (one sale after another) and this lane merges
//!    all of their sales, for `--busy-seconds` (45 by default: longer than the kernel keeps
//!    dirty pages, so the phase also pays for writing back what its merges wrote).
//!
//! Before each phase the page cache is written back (`sync`), so a phase does not pay for the
//! one before (setting up 100k products writes hundreds of MB). The idle phase lasts as long as
//! the busy one, so that both pay for what the lane's own selling costs over time: the kernel
//! writing back what its sales wrote (after 30 s), the day's ledger document growing. A short
//! idle phase (400 sales, about 4 s, before 2026-12-01) paid for neither, and on its own a lane
//! selling for 40 s with nobody else on the LAN had a `pay` p99 2.5× that of its first 4 s.
//! Every phase sells at the same pace, a sale every `--pace-ms` (50 ms by default: 20 sales a
//! second, still hundreds of times a real lane's pace, so that a 45 s phase is a busy lane's
//! day of about 900 sales; at 5 ms, the pace before 2026-12-01, after an idle phase of 4,500
//! and of 6,500 sales the bench twice saw no newcomer caught up within 10 minutes).
//!
//! Beside lane 1, in the same process and on the same disk, a **control lane** (the same store and
//! catalog, never on the LAN) sells in every phase: one sale on each lane in turn, the first
//! alternating, each lane waiting (untimed) until the other has finished what its till does after a
//! receipt, housekeeping included (see `sell_while`). Its `pay` in the same seconds is the idle
//! lane beside lane 1: the disk here has spells of slow fsyncs that come and go over minutes (the
//! idle phase's `pay` p99 moved between 1.9 and 4.8 ms across eight runs on one machine), and a
//! phase of 20 s can catch one that the idle phase did not, or the other way round. So each phase
//! reports lane 1 against its own idle phase and against the control lane in the same seconds; in
//! the idle phase the second ratio shows the two lanes alike (about 1×).
//!
//! The other lanes are `kasir-node` processes. In a store they are other tills with CPUs and
//! disks of their own; here they share one machine with the lane under test, so they run in
//! the idle scheduling class (`chrt --idle`, as this lane's own replication does; `--nice N`
//! runs them at a nice value instead) and keep their files in memory (`/dev/shm`, when there
//! is one), so their fsyncs do not queue on this lane's disk. When a core is kept for this
//! lane's till thread (`NodeOptions::own_core`, on by default, on machines with two or more
//! cores), the peers run on the other cores (`taskset`), as this lane's replication does;
//! `--shared-cores` turns both off, for comparison. What this lane does for them — serving the
//! bootstrap, merging their sales — is all in this process, measured.
//!
//! ```sh
//! cargo build --release -p kasir-node
//! cargo run --release -p kasir-node --example pay_under_load -- [--products N] [--customers N]
//!     [--samples N] [--nice N] [--idle-seconds N] [--busy-seconds N] [--shared-cores]
//!     [--peer-rate N] [--idle-only]
//! ```
// Floats here are timings for a report, never money.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    clippy::float_arithmetic
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use iroh::SecretKey;
use kasir_node::lan::LanConfig;
use kasir_node::schema::Decimal;
use kasir_node::schema::payment::Tender;
use kasir_node::schema::roles::Role;
use kasir_node::schema::txn_number::LaneNo;
use kasir_node::types::{AuthParams, LiveEvent, NewUser, default_store_config};
use kasir_node::{Command, Node, NodeEvent, NodeOptions, demo};
use rand::{Rng, SeedableRng};

/// A peer rate meaning "flat out": `kasir-node --simulate-sales` sells one sale after another
/// above 1,000 per second.
const FLAT_OUT: f64 = 100_000.0;

struct Args {
    products: usize,
    customers: usize,
    samples: usize,
    /// The peers' nice value; `None`: the idle scheduling class.
    nice: Option<u32>,
    busy_seconds: u64,
    /// `--pace-ms N`: the pause between one sale and the next.
    pace: Duration,
    idle_seconds: u64,
    /// `--shared-cores`: no core is kept for the till's thread (`NodeOptions::own_core` off)
    /// and the peers may run on every core.
    shared_cores: bool,
    /// `--peer-rate N`: sales per second each busy peer aims at (flat out by default).
    peer_rate: f64,
    /// `--idle-only`: stop after the idle phase (lane 1 against the control lane, no load).
    idle_only: bool,
}

fn args() -> Args {
    let mut a = Args {
        products: 100_000,
        customers: 50_000,
        samples: 400,
        nice: None,
        busy_seconds: 45,
        pace: Duration::from_millis(50),
        idle_seconds: 45,
        shared_cores: false,
        peer_rate: FLAT_OUT,
        idle_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let mut num = || {
            it.next()
                .and_then(|v| v.parse::<usize>().ok())
                .expect("a number")
        };
        match x.as_str() {
            "--products" => a.products = num(),
            "--customers" => a.customers = num(),
            "--samples" => a.samples = num(),
            "--busy-seconds" => a.busy_seconds = num() as u64,
            "--idle-seconds" => a.idle_seconds = num() as u64,
            "--pace-ms" => a.pace = Duration::from_millis(num() as u64),
            "--nice" => a.nice = Some(num() as u32),
            "--shared-cores" => a.shared_cores = true,
            "--peer-rate" => a.peer_rate = num() as f64,
            "--idle-only" => a.idle_only = true,
            other => {
                panic!(
                    "unknown argument {other} (--products N --customers N --samples N --nice N --idle-seconds N --busy-seconds N --pace-ms N --shared-cores --peer-rate N --idle-only)"
                )
            }
        }
    }
    a
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The `kasir-node` binary beside this example.
fn kasir_node_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("kasir-node"))
        .unwrap();
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --release -p kasir-node` first",
        bin.display()
    );
    bin
}

/// A peer lane as its own process: its key written beforehand so this lane can admit it.
struct Peer {
    key: SecretKey,
    dir: PathBuf,
    lane: u32,
    child: Option<Child>,
}

impl Peer {
    fn new(root: &Path, lane: u32) -> Peer {
        let dir = root.join(format!("peer{lane}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = SecretKey::generate();
        std::fs::write(dir.join("lane.key"), key.to_bytes()).unwrap();
        Peer {
            key,
            dir,
            lane,
            child: None,
        }
    }

    /// Starts the peer on `cpus` (a `taskset` list; all when `None`), in the idle scheduling
    /// class (as this lane's own replication runs) or at a nice value.
    fn start(
        &mut self,
        nice: Option<u32>,
        cpus: Option<&str>,
        upstream: &str,
        sales_per_second: f64,
    ) {
        let mut prefix: Vec<String> = Vec::new();
        if let Some(list) = cpus {
            prefix.extend(["taskset".into(), "-c".into(), list.into()]);
        }
        match nice {
            None => prefix.extend(["chrt".into(), "--idle".into(), "0".into()]),
            Some(n) => prefix.extend(["nice".into(), "-n".into(), n.to_string()]),
        }
        let mut cmd = Process::new(&prefix[0]);
        cmd.args(&prefix[1..])
            .arg(kasir_node_binary())
            .arg("--data")
            .arg(&self.dir)
            .args(["--store", "JKT01", "--lane"])
            .arg(self.lane.to_string())
            .args(["--peer", upstream])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if sales_per_second > 0.0 {
            cmd.args(["--simulate-sales", &sales_per_second.to_string()]);
        }
        self.child = Some(cmd.spawn().expect("start kasir-node"));
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Writes what earlier phases left dirty in the page cache (`sync`), so a phase does not pay
/// for the writeback of the one before (setting up 100k products, say).
fn settle_disk() {
    let _ = Process::new("sync").status();
}

/// How long each `pay` and each scan (`AddSku`, the line on screen) took, sorted.
#[derive(Default)]
struct Timings {
    pay: Vec<Duration>,
    scan: Vec<Duration>,
    /// The slowest `pay`s (how long, and when into the phase), slowest first.
    slowest: Vec<(Duration, Duration)>,
    start: Option<Instant>,
}

/// One 5-line cash sale, timed into `t`.
fn timed_sale(node: &Node, rng: &mut impl Rng, t: &mut Timings) {
    for _ in 0..5 {
        let at = Instant::now();
        node.execute(Command::AddSku {
            sku: format!("P{:06}", rng.random_range(0..1_000)),
            quantity: Decimal::ONE,
        })
        .unwrap();
        t.scan.push(at.elapsed());
    }
    let at = Instant::now();
    node.pay(vec![Tender::cash(Decimal::from(10_000_000))])
        .unwrap();
    let took = at.elapsed();
    t.pay.push(took);
    let start = *t.start.get_or_insert(at);
    t.slowest.push((took, at - start));
    t.slowest.sort_by(|a, b| b.cmp(a));
    t.slowest.truncate(5);
}

/// Sells on every lane of `nodes` while `more` says so (at least `min` sales each), one sale on
/// each in turn, the first lane alternating, pausing `pace` between rounds; returns each lane's
/// `pay` and scan timings.
///
/// Before a lane sells, every other lane is let finish what its till's thread does after a
/// receipt (the sale's projections and, every 50 sales, housekeeping: compaction and a WAL
/// checkpoint, which writes and syncs many pages): a query waits for it, untimed. Two lanes of
/// a bench share one disk, where two tills of a store would not; without this wait one lane's
/// housekeeping fell on the other's next `pay`. The alternation made that systematic: both
/// lanes reach their 50th sale in the same round, always an odd one, where the control lane
/// sold first, so its checkpoint fell on lane 1's `pay` in every 50th round and never the
/// other way round (2026-12-01, four idle phases: lane 1's `pay` p99 1.96–2.19× the control
/// lane's, its slowest pays 2.6 s apart, the length of 50 rounds).
fn sell_while(
    nodes: &[&Node],
    min: usize,
    pace: Duration,
    mut more: impl FnMut() -> bool,
) -> Vec<Timings> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let mut t: Vec<Timings> = nodes.iter().map(|_| Timings::default()).collect();
    let mut round = 0;
    while t[0].pay.len() < min || more() {
        for i in 0..nodes.len() {
            let lane = (i + round) % nodes.len();
            for (j, other) in nodes.iter().enumerate() {
                if j != lane {
                    other.is_set_up().unwrap();
                }
            }
            timed_sale(nodes[lane], &mut rng, &mut t[lane]);
        }
        round += 1;
        std::thread::sleep(pace);
    }
    for x in &mut t {
        x.pay.sort();
        x.scan.sort();
    }
    t
}

/// A phase's `pay` and scan (p50, p99).
type Figures = ((Duration, Duration), (Duration, Duration));

/// Reports a phase: `pay`, then the scans, each against idle's when given, then the same on
/// the control lane in the same seconds and lane 1's ratio to it.
fn report_phase(name: &str, t: &[Timings], idle: Option<Figures>) -> Figures {
    let pay = report(name, &t[0].pay, idle.map(|i| i.0));
    println!(
        "  slowest pays (how long @ when into the phase): {}",
        t[0].slowest
            .iter()
            .map(|(took, when)| format!("{took:.1?} @ {:.1}s", when.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let scan = report("  scans (AddSku)", &t[0].scan, idle.map(|i| i.1));
    if let Some(control) = t.get(1) {
        let beside = (
            report("  control lane, pay", &control.pay, None),
            report("  control lane, scans", &control.scan, None),
        );
        let ratio = |a: (Duration, Duration), b: (Duration, Duration)| {
            format!(
                "p50 {:.2}×, p99 {:.2}×",
                a.0.as_secs_f64() / b.0.as_secs_f64(),
                a.1.as_secs_f64() / b.1.as_secs_f64()
            )
        };
        println!(
            "  lane 1 to the control lane beside it: pay {}; scans {}",
            ratio(pay, beside.0),
            ratio(scan, beside.1)
        );
    }
    (pay, scan)
}

fn report(name: &str, v: &[Duration], idle: Option<(Duration, Duration)>) -> (Duration, Duration) {
    let (p50, p99) = (percentile(v, 0.5), percentile(v, 0.99));
    let ratio = idle.map_or(String::new(), |(i50, i99)| {
        format!(
            "  ratio to idle: p50 {:.2}×, p99 {:.2}×",
            p50.as_secs_f64() / i50.as_secs_f64(),
            p99.as_secs_f64() / i99.as_secs_f64()
        )
    });
    println!(
        "{name:<34} n={:<5} p50={:>9.1?} p99={:>9.1?} max={:>9.1?}{ratio}",
        v.len(),
        p50,
        p99,
        v[v.len() - 1]
    );
    (p50, p99)
}

fn main() {
    let a = args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = Node::open(
        dir.path().join("lane1.db"),
        NodeOptions {
            auth: AuthParams::fast_for_tests(),
            own_core: !a.shared_cores,
            ..NodeOptions::default()
        },
    )
    .unwrap();
    // The peers stand for other tills, with CPUs of their own: when a core is kept for this
    // lane's till, they keep off it as this lane's replication does.
    let peer_cpus: Option<String> = node.till_core().map(|core| {
        let n = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        (0..n)
            .filter(|&c| c != core)
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(",")
    });
    let t = Instant::now();
    set_up(&node, &a);
    // The control lane: the same store on the same disk, never on the LAN, selling beside
    // lane 1 in every phase (see the module documentation).
    let control = Node::open(
        dir.path().join("control.db"),
        NodeOptions {
            auth: AuthParams::fast_for_tests(),
            own_core: false,
            ..NodeOptions::default()
        },
    )
    .unwrap();
    set_up(&control, &a);
    let lanes = [&node, &control];
    println!(
        "lane 1 and the control lane: {} products, {} customers each, built in {:.1?}; core kept for the till: {}; peers {}, their files in {}",
        a.products,
        a.customers,
        t.elapsed(),
        node.till_core().map_or("none (shared)".into(), |c| format!(
            "{c} (peers on {})",
            peer_cpus.as_deref().unwrap_or_default()
        )),
        a.nice
            .map_or("in the idle scheduling class".to_string(), |n| format!(
                "at nice {n}"
            )),
        if Path::new("/dev/shm").is_dir() {
            "/dev/shm"
        } else {
            "the same directory"
        }
    );

    // The peers' files: in memory when the machine has /dev/shm (see the module documentation).
    let shm = Path::new("/dev/shm");
    let peer_root = if shm.is_dir() { shm } else { dir.path() };
    let mut newcomer = Peer::new(peer_root, 5);
    let mut sellers: Vec<Peer> = (2..=4).map(|l| Peer::new(peer_root, l)).collect();
    let key = SecretKey::generate();
    let mut config = LanConfig::new(key.clone(), "127.0.0.1:0".parse().unwrap());
    config.members = std::iter::once(&newcomer)
        .chain(&sellers)
        .map(|p| p.key.public())
        .collect::<BTreeSet<_>>();
    let mut events = node.events();
    runtime.block_on(node.join_lan(config)).unwrap();
    let addr = runtime.block_on(node.lan_addrs())[0];
    let upstream = format!("{}@{addr}", key.public());

    // 1. Idle.
    settle_disk();
    let t = Instant::now();
    let idle_for = Duration::from_secs(a.idle_seconds);
    let idle = sell_while(&lanes, a.samples, a.pace, || t.elapsed() < idle_for);
    let idle = report_phase(
        &format!("idle (on the LAN, alone, {:.0?})", t.elapsed()),
        &idle,
        None,
    );
    if a.idle_only {
        runtime.block_on(node.shutdown());
        control.close();
        return;
    }

    // 2. An empty lane bootstraps the whole store from this one.
    settle_disk();
    newcomer.start(a.nice, peer_cpus.as_deref(), &upstream, 0.0);
    let node5 = newcomer.key.public().to_string();
    let started = Instant::now();
    let mut seen_behind = false;
    let during = sell_while(&lanes, a.samples.min(50), a.pace, || {
        let v = node.view();
        let peer = v.lan.peers.iter().find(|p| p.node == node5);
        let behind = peer.is_none_or(|p| !p.connected || p.behind_docs > 0);
        seen_behind |= behind;
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "no bootstrap in 10 minutes"
        );
        behind || !seen_behind || started.elapsed() < Duration::from_secs(2)
    });
    let took = started.elapsed();
    report_phase(
        &format!("while lane 5 bootstraps ({:.1?})", took),
        &during,
        Some(idle),
    );

    // 3. Three lanes sell flat out; this lane merges every one of their sales.
    for s in &mut sellers {
        s.start(a.nice, peer_cpus.as_deref(), &upstream, a.peer_rate);
    }
    // Wait until all three sell (their catalogs come from this lane first).
    let mut selling: BTreeSet<u16> = BTreeSet::new();
    let wait = Instant::now();
    while selling.len() < 3 {
        match events.try_recv() {
            Ok(NodeEvent::Live(LiveEvent::Sale { lane, .. })) if lane != 1 => {
                selling.insert(lane);
            }
            Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
        assert!(
            wait.elapsed() < Duration::from_secs(900),
            "the peers did not start selling"
        );
    }
    settle_disk();
    let before = node.diagnostics().unwrap().sales;
    let t = Instant::now();
    // Longer than the kernel keeps dirty pages (30 s by default), so the phase also pays for
    // writing back what its own merges wrote.
    let busy_for = Duration::from_secs(a.busy_seconds);
    let busy = sell_while(&lanes, a.samples, a.pace, || t.elapsed() < busy_for);
    let merged = node.diagnostics().unwrap().sales - before - busy[0].pay.len() as i64;
    report_phase(
        &format!(
            "while 3 peers sell {} ({:.0}/s merged)",
            if a.peer_rate >= FLAT_OUT {
                "flat out".to_string()
            } else {
                format!("at {}/s each", a.peer_rate)
            },
            merged as f64 / t.elapsed().as_secs_f64()
        ),
        &busy,
        Some(idle),
    );
    for s in &mut sellers {
        s.stop();
    }
    newcomer.stop();
    runtime.block_on(node.shutdown());
    control.close();
}

/// Sets a lane up as lane 1 of the store with `a.products` products and `a.customers`
/// customers, a manager logged in and a shift open.
fn set_up(node: &Node, a: &Args) {
    node.execute(Command::SetUp {
        config: Box::new(default_store_config("JKT01", "Bench").unwrap()),
        lane: LaneNo::new(1).unwrap(),
        manager: NewUser {
            username: "maya".into(),
            full_name: "Maya".into(),
            role: Role::Manager,
            pin: "9999".into(),
        },
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
    node.execute(Command::ImportProducts(demo::products(a.products, 1)))
        .unwrap();
    node.execute(Command::ImportCustomers(demo::customers(a.customers, 1)))
        .unwrap();
    node.execute(Command::Maintenance).unwrap();
}
