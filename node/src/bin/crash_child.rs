//! Sells random baskets on a till database until killed, through the same API the till app
//! uses. After each `pay` returns (the sale is durable) it prints `ACK <transaction number>
//! <sale id>` and flushes, so the parent knows exactly which sales were acknowledged before it
//! sent SIGKILL.
//!
//! Usage: `kasir-crash-child DB_PATH SEED`

use std::io::Write;

use kasir_node::schema::Decimal;
use kasir_node::schema::domain::{Product, SaleUnit};
use kasir_node::schema::payment::Tender;
use kasir_node::schema::roles::Role;
use kasir_node::schema::txn_number::LaneNo;
use kasir_node::types::{AuthParams, NewUser, NodeError, default_store_config};
use kasir_node::{Command, Node, NodeOptions};
use rand::{Rng, SeedableRng};

const SKUS: usize = 20;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(seed)) = (args.next(), args.next()) else {
        eprintln!("usage: kasir-crash-child DB_PATH SEED");
        std::process::exit(2);
    };
    let seed: u64 = seed.parse().unwrap_or(0);
    if let Err(e) = run(&path, seed) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(path: &str, seed: u64) -> kasir_node::Result<()> {
    let node = Node::open(
        path,
        NodeOptions {
            auth: AuthParams::fast_for_tests(),
            ..NodeOptions::default()
        },
    )?;
    if !node.is_set_up()? {
        node.execute(Command::SetUp {
            config: Box::new(default_store_config("CRASH", "Crash Test")?),
            lane: LaneNo::new(1).map_err(|e| NodeError::Invalid(e.to_string()))?,
            manager: NewUser {
                username: "boss".into(),
                full_name: "Boss".into(),
                role: Role::Manager,
                pin: "9999".into(),
            },
        })?;
    }
    node.execute(Command::Login {
        username: "boss".into(),
        pin: "9999".into(),
    })?;
    if node.product("SKU-00")?.is_none() {
        let products: Vec<Product> = (0..SKUS)
            .map(|i| Product {
                sku: format!("SKU-{i:02}"),
                server_id: None,
                barcode: None,
                name: format!("Product {i}"),
                description: None,
                category_id: None,
                unit: if i % 5 == 0 {
                    SaleUnit::Kilogram
                } else {
                    SaleUnit::Piece
                },
                cost_price: Decimal::ZERO,
                selling_price: Decimal::from(1_000 + 250 * i as i64),
                min_stock: Decimal::ZERO,
                max_stock: Decimal::from(1000),
                is_active: true,
            })
            .collect();
        node.execute(Command::ImportProducts(products))?;
    }
    if node.view().shift.is_none() {
        node.execute(Command::OpenShift {
            float: Decimal::from(100_000),
        })?;
    }
    // A cart left over from a killed run is gone (carts live in memory); start clean.
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let stdout = std::io::stdout();
    println!("READY");
    stdout.lock().flush().ok();
    loop {
        for _ in 0..rng.random_range(1..=5) {
            let i = rng.random_range(0..SKUS);
            let qty = if i % 5 == 0 {
                Decimal::new(rng.random_range(100..3_000), 3)
            } else {
                Decimal::from(rng.random_range(1..4))
            };
            node.execute(Command::AddSku {
                sku: format!("SKU-{i:02}"),
                quantity: qty,
            })?;
        }
        let receipt = node.pay(vec![Tender::cash(Decimal::from(1_000_000))])?;
        let mut out = stdout.lock();
        writeln!(out, "ACK {} {}", receipt.number, receipt.sale_id).ok();
        out.flush().ok();
    }
}
