//! Sells random baskets on a till database until killed. After each `pay` returns (the sale is
//! durable) it prints `ACK <transaction number> <sale id>` and flushes, so the parent knows
//! exactly which sales were acknowledged before it sent SIGKILL.
//!
//! Usage: `kasir-crash-child DB_PATH SEED`

use std::io::Write;

use kasir_node::schema::Decimal;
use kasir_node::schema::domain::{Product, SaleUnit};
use kasir_node::schema::payment::Tender;
use kasir_node::schema::roles::Role;
use kasir_node::schema::txn_number::LaneNo;
use kasir_node::{AuthParams, NewUser, Till, TillOptions, default_store_config};
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
    let options = TillOptions {
        auth: AuthParams::fast_for_tests(),
        env: kasir_node::env::system(),
    };
    let mut till = Till::open(path, options)?;
    if !till.is_set_up() {
        till.set_up(
            default_store_config("CRASH", "Crash Test")?,
            LaneNo::new(1).map_err(|e| kasir_node::NodeError::Invalid(e.to_string()))?,
            NewUser {
                username: "boss".into(),
                full_name: "Boss".into(),
                role: Role::Manager,
                pin: "9999".into(),
            },
        )?;
    }
    till.login("boss", "9999")?;
    if till.product("SKU-00").map(|p| p.is_none())? {
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
        till.import_products(&products)?;
    }
    if till.current_shift()?.is_none() {
        till.open_shift(Decimal::from(100_000))?;
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
            till.add_sku(&format!("SKU-{i:02}"), qty)?;
        }
        let receipt = till.pay(&[Tender::cash(Decimal::from(1_000_000))])?;
        let mut out = stdout.lock();
        writeln!(out, "ACK {} {}", receipt.number, receipt.sale_id).ok();
        out.flush().ok();
    }
}
