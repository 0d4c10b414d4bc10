//! `kasir-till`: the till app.
//!
//! `kasir-till [--data DIR] [--demo]`: opens the lane in `DIR` (default: `kasir-demo` in the
//! system's temporary directory with `--demo`, which sets it up as the demo store on first
//! start and shows the demo users' PINs on the login screen). A second start reuses the
//! directory.

use kasir_node::{Node, NodeOptions};
use kasir_ui::TillApp;

fn main() {
    if let Err(e) = run() {
        eprintln!("kasir-till: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut data: Option<std::path::PathBuf> = None;
    let mut demo = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => data = Some(args.next().ok_or("--data needs a directory")?.into()),
            "--demo" => demo = true,
            "-h" | "--help" => {
                println!("usage: kasir-till [--data DIR] [--demo]");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?} (try --help)").into()),
        }
    }
    let dir = match (data, demo) {
        (Some(d), _) => d,
        (None, true) => std::env::temp_dir().join("kasir-demo"),
        (None, false) => return Err("give the lane's directory with --data DIR, or --demo".into()),
    };
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("lane1.db");
    println!("kasir-till: lane data in {}", dir.display());
    let node = Node::open(&path, NodeOptions::default())?;
    let mut app = TillApp::new(node.clone());
    if demo {
        println!("kasir-till: setting up the demo store (first start only) …");
        kasir_ui::demo::set_up(&node, 5_000)?;
        app = app.with_demo_users(kasir_ui::demo::users());
    }
    if !node.is_set_up()? {
        return Err(format!(
            "{} is not a set-up lane: start with --demo, or set the lane up with kasir-node first",
            path.display()
        )
        .into());
    }
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
