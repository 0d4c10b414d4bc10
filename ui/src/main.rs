//! `kasir-till`: the till app.
//!
//! - `kasir-till [--data DIR]`: the demo store (what `cargo run --release` opens): an embedded
//!   HQ gateway, this till as lane 1 and two lanes selling in the background, all in `DIR`
//!   (default `kasir-demo` in the system's temporary directory). The first start sets it up;
//!   later ones reuse it. The login screen shows the demo users' PINs.
//! - `kasir-till --till DIR [--listen IP:PORT] [--peer NODE_ID@IP:PORT]… [--mdns]`: a real
//!   till on the lane `kasir-node` set up in `DIR` (`lane.db`, `lane.key`), on the store LAN.

use std::net::SocketAddr;
use std::path::PathBuf;

use kasir_node::lan::{LanConfig, load_or_create_key, parse_peer};
use kasir_node::{Node, NodeOptions};
use kasir_ui::TillApp;
use kasir_ui::demo::{DemoOptions, DemoStore};

const USAGE: &str = "usage:
  kasir-till [--data DIR] [--products N] [--baskets-per-minute R]
      the demo store: embedded HQ, this till (lane 1) and two lanes selling in the
      background, all in DIR (default: kasir-demo in the temporary directory)
  kasir-till --till DIR [--listen IP:PORT] [--peer NODE_ID@IP:PORT]... [--mdns]
      a real till on the lane kasir-node set up in DIR (lane.db, lane.key)";

fn main() {
    if let Err(e) = run() {
        eprintln!("kasir-till: {e}");
        std::process::exit(1);
    }
}

#[derive(Debug, Default)]
struct Args {
    data: Option<PathBuf>,
    till: Option<PathBuf>,
    products: Option<usize>,
    baskets: Option<f64>,
    listen: Option<SocketAddr>,
    peers: Vec<String>,
    mdns: bool,
}

/// Reads the command line (without the program's name); `None` for `--help`.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
    let mut a = Args::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |what: &str| args.next().ok_or(format!("{arg} needs {what}"));
        match arg.as_str() {
            "--data" => a.data = Some(value("a directory")?.into()),
            "--till" => a.till = Some(value("the lane's directory")?.into()),
            "--products" => {
                let v = value("a number")?;
                a.products = Some(
                    v.parse()
                        .ok()
                        .filter(|n| (50..=15_000).contains(n))
                        .ok_or(format!("--products {v}: a number from 50 to 15000"))?,
                );
            }
            "--baskets-per-minute" => {
                let v = value("a number")?;
                a.baskets = Some(
                    v.parse()
                        .ok()
                        .filter(|r: &f64| (0.0..=600.0).contains(r))
                        .ok_or(format!("--baskets-per-minute {v}: a number from 0 to 600"))?,
                );
            }
            "--listen" => {
                let v = value("IP:PORT")?;
                a.listen = Some(v.parse().map_err(|e| format!("--listen {v}: {e}"))?);
            }
            "--peer" => a.peers.push(value("NODE_ID@IP:PORT")?),
            "--mdns" => a.mdns = true,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if a.till.is_some() && (a.data.is_some() || a.products.is_some() || a.baskets.is_some()) {
        return Err("--till runs a real till: --data, --products and --baskets-per-minute are for the demo store".into());
    }
    if a.till.is_none() && (a.listen.is_some() || !a.peers.is_empty() || a.mdns) {
        return Err("--listen, --peer and --mdns are for a real till (--till DIR)".into());
    }
    Ok(Some(a))
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let Some(args) = parse_args(std::env::args().skip(1))? else {
        println!("{USAGE}");
        return Ok(());
    };
    match args.till.clone() {
        Some(dir) => real_till(dir, &args),
        None => demo_store(&args),
    }
}

fn demo_store(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let dir = args
        .data
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("kasir-demo"));
    let mut options = DemoOptions::new(&dir);
    if let Some(n) = args.products {
        options.products = n;
    }
    if let Some(r) = args.baskets {
        options.baskets_per_minute = r;
    }
    println!(
        "kasir-till: the demo store in {} (--data DIR for another)",
        dir.display()
    );
    let started = std::time::Instant::now();
    let store = DemoStore::start(&options, &mut |what| println!("kasir-till: {what}"))?;
    println!(
        "kasir-till: ready in {:.1?}; lanes 2 and 3 sell {} baskets a minute each",
        started.elapsed(),
        options.baskets_per_minute
    );
    let app = TillApp::new(store.till.clone()).with_demo_users(kasir_ui::demo::users());
    let shown = window(app);
    println!("kasir-till: stopping the demo store …");
    store.shutdown();
    shown
}

fn real_till(dir: PathBuf, args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let path = dir.join("lane.db");
    if !path.exists() {
        return Err(format!(
            "{} does not exist: set the lane up with kasir-node --data {} first",
            path.display(),
            dir.display()
        )
        .into());
    }
    let node = Node::open(&path, NodeOptions::default())?;
    if !node.is_set_up()? {
        return Err(format!(
            "{} is not a set-up lane (kasir-node sets one up)",
            path.display()
        )
        .into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut config = LanConfig::new(
        load_or_create_key(&dir.join("lane.key"))?,
        args.listen
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
    );
    config.peers = args
        .peers
        .iter()
        .map(|p| parse_peer(p))
        .collect::<Result<_, _>>()?;
    config.mdns = args.mdns;
    let id = runtime.block_on(node.join_lan(config))?;
    println!("kasir-till: lane in {}, node id {id}", dir.display());
    let shown = window(TillApp::new(node.clone()));
    runtime.block_on(node.shutdown());
    shown
}

/// Opens the window and runs the app until it is closed.
fn window(app: TillApp) -> Result<(), Box<dyn std::error::Error>> {
    eframe::run_native(
        "kasir",
        eframe::NativeOptions {
            viewport: egui::ViewportBuilder::default().with_inner_size([1024.0, 720.0]),
            ..Default::default()
        },
        Box::new(|_cc| Ok(Box::new(app))),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Option<Args>, String> {
        parse_args(line.split_whitespace().map(str::to_string))
    }

    #[test]
    fn the_demo_store_is_the_default_and_its_sizes_are_checked() {
        let a = parse("").unwrap().unwrap();
        assert!(a.till.is_none() && a.data.is_none());
        let a = parse("--data /tmp/x --products 800 --baskets-per-minute 2.5")
            .unwrap()
            .unwrap();
        assert_eq!(a.data, Some(PathBuf::from("/tmp/x")));
        assert_eq!((a.products, a.baskets), (Some(800), Some(2.5)));
        for bad in [
            "--products 10",
            "--products many",
            "--baskets-per-minute -1",
            "--data",
            "--frobnicate",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse("--help").unwrap().is_none());
    }

    #[test]
    fn a_real_till_takes_lan_flags_and_refuses_demo_ones() {
        let a = parse("--till /srv/lane --listen 0.0.0.0:7000 --peer abc@10.0.0.2:7000 --mdns")
            .unwrap()
            .unwrap();
        assert_eq!(a.till, Some(PathBuf::from("/srv/lane")));
        assert_eq!(a.peers, vec!["abc@10.0.0.2:7000".to_string()]);
        assert!(a.mdns && a.listen.is_some());
        let e = parse("--till /srv/lane --products 900").unwrap_err();
        assert!(e.contains("demo store"), "{e}");
        let e = parse("--peer abc@10.0.0.2:7000").unwrap_err();
        assert!(e.contains("real till"), "{e}");
        assert!(parse("--till /srv/lane --listen nowhere").is_err());
    }
}
