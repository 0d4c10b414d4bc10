//! The till app's performance (issue #13). Run in release:
//!
//! ```sh
//! cargo run --release -p kasir-ui --example till_perf -- all
//! ```
//!
//! - `frame`: the selling screen with a 100k-product catalog and a 200-line cart, frame after
//!   frame: the app's pass over egui plus tessellation (the CPU's part of a frame; the GPU's
//!   part is not in it).
//! - `search`: search as you type over 100k products: a query typed a letter at a time, each
//!   letter timed until its results are on screen (every frame it took, tessellated).
//! - `scan`: a wedge scan (the code, Enter) timed until its line is on screen, on the demo
//!   store's till while its two other lanes sell `--baskets-per-minute` each and replicate.
//! - `start`: a fresh process opens a lane holding 100k products, 50k customers and a year of
//!   sales (the lane `till_bench cold-start` uses, generated once into `--dir`) and draws the
//!   login screen: the time from spawning it until that first frame is tessellated.
//!   `--drop-caches` (root) empties the page cache before each start.
//!
//! The UI runs under `egui_kittest` without a window (each frame also builds the
//! accessibility tree, which a window without a screen reader does not: the figures err high).
// Floats here are timings for a report, never money.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    clippy::float_arithmetic
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui::Key;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use kasir_node::schema::Decimal;
use kasir_node::types::AuthParams;
use kasir_node::{Command, Node, NodeOptions, demo};
use kasir_ui::TillApp;
use kasir_ui::demo::{DemoOptions, DemoStore};

struct Args {
    what: String,
    dir: PathBuf,
    products: usize,
    frames: usize,
    scans: usize,
    starts: usize,
    baskets_per_minute: f64,
    drop_caches: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        what: "all".into(),
        dir: PathBuf::from("/var/tmp/kasir-bench"),
        products: 100_000,
        frames: 500,
        scans: 300,
        starts: 5,
        baskets_per_minute: 600.0,
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
            "--frames" => a.frames = num("--frames"),
            "--scans" => a.scans = num("--scans"),
            "--starts" => a.starts = num("--starts"),
            "--baskets-per-minute" => a.baskets_per_minute = num("--baskets-per-minute") as f64,
            "--drop-caches" => a.drop_caches = true,
            "--child-start" => {
                child_start(Path::new(&it.next().expect("--child-start needs a lane")));
                std::process::exit(0);
            }
            "-h" | "--help" => {
                println!(
                    "usage: till_perf [frame|search|scan|start|all] [--dir DIR] [--products N] \
                     [--frames N] [--scans N] [--starts N] [--baskets-per-minute R] [--drop-caches]"
                );
                std::process::exit(0);
            }
            w => a.what = w.to_string(),
        }
    }
    a
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Prints p50/p99/max of `v` beside `target`; returns p99.
fn summary(name: &str, mut v: Vec<Duration>, target: Duration) -> Duration {
    v.sort();
    let p99 = percentile(&v, 0.99);
    println!(
        "{name:<52} n={:<5} p50={:>9.2?} p99={:>9.2?} max={:>9.2?}  target p99 ≤ {target:?}: {}",
        v.len(),
        percentile(&v, 0.50),
        p99,
        v[v.len() - 1],
        if p99 <= target { "met" } else { "NOT met" }
    );
    p99
}

fn harness(node: &Node) -> Harness<'static, TillApp> {
    let app = TillApp::new(node.clone());
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut TillApp| app.show(ui), app)
}

/// One frame as a window draws it, up to the GPU: the app's pass, then tessellation.
fn frame(h: &mut Harness<'static, TillApp>) {
    h.step();
    let out = h.output();
    let shapes = out.shapes.clone();
    let primitives = h.ctx.tessellate(shapes, out.pixels_per_point);
    std::hint::black_box(primitives);
}

/// Frames until `done` holds (at most 10): how long they took.
fn frames_until(
    h: &mut Harness<'static, TillApp>,
    done: impl Fn(&Harness<'static, TillApp>) -> bool,
) -> Duration {
    let start = Instant::now();
    for _ in 0..10 {
        frame(h);
        if done(h) {
            return start.elapsed();
        }
    }
    panic!("not on screen after 10 frames");
}

fn type_into(h: &mut Harness<'static, TillApp>, role: Role, label: &str, text: &str) {
    h.get_by_role_and_label(role, label).focus();
    h.run();
    h.get_by_role_and_label(role, label).type_text(text);
    h.run();
}

/// Logs in as `user` and opens a shift on the screen.
fn log_in(h: &mut Harness<'static, TillApp>, node: &Node, user: &str, pin: &str) {
    h.run();
    type_into(h, Role::TextInput, "Pengguna", user);
    type_into(h, Role::PasswordInput, "PIN", pin);
    h.key_press(Key::Enter);
    h.run();
    if node.view().shift.is_none() {
        h.get_by_label("Buka shift [Enter]").click();
        h.run();
    }
    assert!(node.view().shift.is_some(), "{:?}", node.view().last_error);
}

/// The lane of `size` in `a.dir` (generated once, shared with `till_bench`).
fn big_lane(a: &Args, size: demo::BigLane) -> PathBuf {
    demo::big_lane(
        &a.dir,
        size,
        kasir_node::types::TillOptions {
            auth: AuthParams::fast_for_tests(),
            env: kasir_node::env::system(),
        },
        chrono::Utc::now(),
        &mut |s| eprintln!("{s}"),
    )
    .expect("generating the lane")
}

/// A lane with `a.products` products and no sales.
fn catalog_lane(a: &Args) -> Node {
    let size = demo::BigLane {
        products: a.products,
        customers: 0,
        days: 0,
        per_day: 0,
    };
    Node::open(
        big_lane(a, size),
        NodeOptions {
            auth: AuthParams::fast_for_tests(),
            ..NodeOptions::default()
        },
    )
    .expect("opening the lane")
}

/// Empties the cart (a manager may void without a second PIN).
fn void_cart(node: &Node) {
    if !node.view().cart.lines.is_empty() {
        node.execute(Command::VoidCart { approval: None })
            .expect("void");
    }
}

fn bench_frame(a: &Args) {
    let node = catalog_lane(a);
    let mut h = harness(&node);
    log_in(&mut h, &node, "maya", "9999");
    void_cart(&node);
    for p in demo::products(a.products, 1)
        .iter()
        .step_by(a.products / 200)
        .take(200)
    {
        node.execute(Command::AddSku {
            sku: p.sku.clone(),
            quantity: Decimal::ONE,
        })
        .expect("a line");
    }
    assert_eq!(node.view().cart.lines.len(), 200);
    h.run();
    let mut times = Vec::with_capacity(a.frames);
    for _ in 0..a.frames {
        let start = Instant::now();
        frame(&mut h);
        times.push(start.elapsed());
    }
    summary(
        &format!("frame: {}k products, 200-line cart", a.products / 1000),
        times,
        Duration::from_millis(16),
    );
    void_cart(&node);
    node.close();
}

fn bench_search(a: &Args) {
    let node = catalog_lane(a);
    let mut h = harness(&node);
    log_in(&mut h, &node, "maya", "9999");
    let catalog = demo::products(a.products, 1);
    let mut times = Vec::new();
    for (n, p) in catalog.iter().step_by(a.products / 40).enumerate() {
        // Every other query the first two words of a name, else a SKU, a letter at a time.
        let query: String = if n % 2 == 0 {
            p.name.split(' ').take(2).collect::<Vec<_>>().join(" ")
        } else {
            p.sku.clone()
        };
        h.key_press(Key::F2);
        h.run();
        let field = "Cari produk (nama, SKU, barcode)";
        h.get_by_role_and_label(Role::TextInput, field).focus();
        h.run();
        let mut typed = String::new();
        for c in query.chars() {
            typed.push(c);
            let first = node.search_products(&typed, 12).expect("search");
            h.get_by_role_and_label(Role::TextInput, field)
                .type_text(&c.to_string());
            let want = first.first().map(|f| format!("{} · {}", f.name, f.sku));
            times.push(frames_until(&mut h, |h| match &want {
                Some(w) => h.query_by_label_contains(w).is_some(),
                None => h.query_by_label("Tidak ada produk yang cocok").is_some(),
            }));
        }
        h.key_press(Key::Escape);
        h.run();
    }
    summary(
        &format!(
            "search as you type: {}k products, per keystroke",
            a.products / 1000
        ),
        times,
        Duration::from_millis(30),
    );
    node.close();
}

fn bench_scan(a: &Args) {
    let dir = a.dir.join("ui-perf-demo");
    let _ = std::fs::remove_dir_all(&dir);
    let mut options = DemoOptions::new(&dir);
    options.baskets_per_minute = a.baskets_per_minute;
    options.auth = AuthParams::fast_for_tests();
    options.hq_port = 0;
    let store = DemoStore::start(&options, &mut |s| eprintln!("{s}")).expect("the demo store");
    let node = store.till.clone();
    let mut h = harness(&node);
    log_in(&mut h, &node, "siti", "1234");
    let codes: Vec<(String, String)> = demo::store_catalog(options.products, 42)
        .1
        .into_iter()
        .filter_map(|p| {
            p.barcode
                .filter(|b| b.starts_with("899"))
                .map(|b| (b, p.name))
        })
        .collect();
    let sold_before: i64 = store.lanes.iter().map(|l| l.counts().unwrap().sales).sum();
    let started = Instant::now();
    let mut times = Vec::with_capacity(a.scans);
    for (code, name) in codes.iter().cycle().take(a.scans) {
        let field = h.get_by_role_and_label(Role::TextInput, "Pindai / kode");
        field.type_text(code);
        h.step();
        h.key_press(Key::Enter);
        times.push(frames_until(&mut h, |h| h.query_by_label(name).is_some()));
        // Not timed: the line goes again, so the cart stays one line long.
        h.key_press(Key::F8);
        h.run();
    }
    let sold: i64 = store
        .lanes
        .iter()
        .map(|l| l.counts().unwrap().sales)
        .sum::<i64>()
        - sold_before;
    summary(
        &format!(
            "scan to line on screen, 2 lanes selling ({:.1} sales/s)",
            sold as f64 / started.elapsed().as_secs_f64()
        ),
        times,
        Duration::from_millis(20),
    );
    store.shutdown();
}

/// In the child: open the lane, draw the login screen once; print how long that took.
fn child_start(path: &Path) {
    let start = Instant::now();
    let node = Node::open(path, NodeOptions::default()).expect("open");
    let mut h = harness(&node);
    frame(&mut h);
    assert!(
        h.query_by_role_and_label(Role::TextInput, "Pengguna")
            .is_some(),
        "the login screen"
    );
    println!("ready {}", start.elapsed().as_micros());
    node.close();
}

fn bench_start(a: &Args) {
    let path = big_lane(a, demo::BigLane::year());
    let exe = std::env::current_exe().expect("this example");
    let (mut total, mut inside) = (Vec::new(), Vec::new());
    for _ in 0..a.starts {
        if a.drop_caches {
            // A disk-cold start: flush and drop the page cache (needs root).
            let _ = std::process::Command::new("sync").status();
            if std::fs::write("/proc/sys/vm/drop_caches", "3").is_err() {
                eprintln!("  (could not drop the page cache: run as root for a disk-cold start)");
            }
        }
        let start = Instant::now();
        let out = std::process::Command::new(&exe)
            .arg("--child-start")
            .arg(&path)
            .output()
            .expect("the child runs");
        let line = String::from_utf8_lossy(&out.stdout).to_string();
        let micros: u64 = line
            .lines()
            .find_map(|l| l.strip_prefix("ready "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "the child said {line:?} {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        inside.push(Duration::from_micros(micros));
        total.push(start.elapsed());
    }
    summary(
        "start to login screen (a year of data), in the process",
        inside,
        Duration::from_secs(1),
    );
    summary(
        "start to login screen (a year of data), spawn to exit",
        total,
        Duration::from_secs(1),
    );
}

fn main() {
    let a = parse_args();
    println!(
        "till_perf: {} cores, {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        std::fs::read_to_string("/proc/cpuinfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("model name\t: "))
            .unwrap_or("?")
    );
    let all = a.what == "all";
    if all || a.what == "frame" {
        bench_frame(&a);
    }
    if all || a.what == "search" {
        bench_search(&a);
    }
    if all || a.what == "scan" {
        bench_scan(&a);
    }
    if all || a.what == "start" {
        bench_start(&a);
    }
}
