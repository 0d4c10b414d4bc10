//! A headless demo shift on one lane, on embedded defaults (SQLite, nothing to install):
//! sets up store DEMO01 with 500 products, a manager, a supervisor and a cashier; the cashier
//! sells random baskets (cash, card, split; a loyalty member), a supervisor approves a refund,
//! and the shift closes with its Z report. Everything goes through the API the till app uses
//! (`kasir_node::Node`).
//!
//! `cargo run -p kasir-node --example demo_shift -- [--data DIR] [--sales N]`
//! Without `--data` it works in a fresh temporary directory and says where.

use kasir_node::schema::Decimal;
use kasir_node::schema::money::Money;
use kasir_node::schema::payment::{PaymentMethod, Tender};
use kasir_node::schema::roles::{Permission, Role};
use kasir_node::schema::txn_number::LaneNo;
use kasir_node::types::{NewCustomer, NewUser, ReturnItem, default_store_config};
use kasir_node::{Command, Node, NodeOptions, Outcome, demo};
use rand::{Rng, SeedableRng};

fn rp(d: Decimal) -> String {
    Money::idr(d)
        .map(|m| m.to_string())
        .unwrap_or_else(|_| d.to_string())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut data: Option<std::path::PathBuf> = None;
    let mut sales = 40usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => data = Some(args.next().ok_or("--data needs a directory")?.into()),
            "--sales" => sales = args.next().ok_or("--sales needs a number")?.parse()?,
            "-h" | "--help" => {
                println!("usage: demo_shift [--data DIR] [--sales N]");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?} (try --help)").into()),
        }
    }
    let _tmp;
    let dir = match data {
        Some(d) => {
            std::fs::create_dir_all(&d)?;
            d
        }
        None => {
            _tmp = tempfile::tempdir()?;
            _tmp.path().to_path_buf()
        }
    };
    let path = dir.join("lane1.db");
    println!("lane database: {}", path.display());
    let node = Node::open(&path, NodeOptions::default())?;
    let login = |username: &str, pin: &str| Command::Login {
        username: username.into(),
        pin: pin.into(),
    };
    let products = demo::products(500, 42);
    if !node.is_set_up()? {
        let mut config = default_store_config("DEMO01", "Toko Demo Kasir")?;
        config.address = Some("Jl. Merdeka No. 1, Jakarta".into());
        node.execute(Command::SetUp {
            config: Box::new(config),
            lane: LaneNo::new(1)?,
            manager: NewUser {
                username: "maya".into(),
                full_name: "Maya (manager)".into(),
                role: Role::Manager,
                pin: "9999".into(),
            },
        })?;
        node.execute(login("maya", "9999"))?;
        for (username, full_name, role, pin) in [
            ("budi", "Budi (supervisor)", Role::Supervisor, "5678"),
            ("siti", "Siti (kasir)", Role::Cashier, "1234"),
        ] {
            node.execute(Command::CreateUser {
                user: NewUser {
                    username: username.into(),
                    full_name: full_name.into(),
                    role,
                    pin: pin.into(),
                },
                approval: None,
            })?;
        }
        node.execute(Command::ImportProducts(products.clone()))?;
        for p in products.iter().take(100) {
            node.execute(Command::ReceiveStock {
                sku: p.sku.clone(),
                quantity: Decimal::from(50),
                notes: Some("opening stock".into()),
                approval: None,
            })?;
        }
        node.execute(Command::Logout)?;
        println!("store DEMO01 set up: 500 products, users maya/9999, budi/5678, siti/1234");
    }

    node.execute(login("siti", "1234"))?;
    if node.view().shift.is_none() {
        node.execute(Command::OpenShift {
            float: Decimal::from(500_000),
        })?;
    }
    let member = match node.find_customers("081100000001", 1)?.into_iter().next() {
        Some(c) => c,
        None => match node.execute(Command::CreateCustomer(NewCustomer {
            name: "Budi Santoso".into(),
            phone: Some("0811-0000-0001".into()),
            email: None,
            customer_code: Some("MBR-000001".into()),
            address: None,
            date_of_birth: None,
        }))? {
            Outcome::Customer(c) => *c,
            other => return Err(format!("unexpected {other:?}").into()),
        },
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut first_receipt = None;
    for i in 0..sales {
        for _ in 0..rng.random_range(1..=6) {
            let p = &products[rng.random_range(0..100)];
            node.execute(Command::Scan {
                code: p.barcode.clone().unwrap_or_else(|| p.sku.clone()),
            })?;
        }
        if i % 5 == 0 {
            node.execute(Command::AttachCustomer { id: member.id })?;
        }
        let due = node.view().cart.totals.total_amount;
        let tenders = match i % 3 {
            0 => vec![Tender::cash(
                ((due / Decimal::from(50_000)).ceil()) * Decimal::from(50_000),
            )],
            1 => vec![Tender::new(PaymentMethod::Card, due)],
            _ => {
                let card = (due / Decimal::TWO).round();
                vec![
                    Tender::new(PaymentMethod::EWallet, card),
                    Tender::cash(due - card + Decimal::from(1_000)),
                ]
            }
        };
        let receipt = node.pay(tenders)?;
        if first_receipt.is_none() {
            first_receipt = Some(receipt);
        }
    }
    let first = first_receipt.ok_or("no sale")?;
    println!("\nfirst receipt:\n{}", first.to_text(42));

    let approval = node.approve("budi", "5678", Permission::Refund)?;
    let Outcome::Return(refund) = node.execute(Command::Refund {
        number: first.number.clone(),
        items: vec![ReturnItem {
            line_no: 1,
            quantity: Decimal::ONE,
        }],
        method: PaymentMethod::Cash,
        reason: Some("kemasan rusak".into()),
        approval: Some(approval),
    })?
    else {
        return Err("no refund".into());
    };
    println!(
        "refund {} of {}: {} in cash (approved by budi)",
        refund.number,
        first.number,
        rp(refund.refund_amount)
    );

    let approval = node.approve("budi", "5678", Permission::CloseShift)?;
    let x_ok = node.approve("budi", "5678", Permission::ViewShiftReport)?;
    let Outcome::Report(x) = node.execute(Command::XReport {
        approval: Some(x_ok),
    })?
    else {
        return Err("no X report".into());
    };
    let Outcome::Report(z) = node.execute(Command::CloseShift {
        counted: x.expected_cash - Decimal::from(2_000),
        approval: Some(approval),
    })?
    else {
        return Err("no Z report".into());
    };
    println!("\nZ report, lane {}:", z.lane);
    println!("  transactions   {:>16}", z.transactions);
    println!("  items          {:>16}", z.items.normalize());
    println!("  gross sales    {:>16}", rp(z.gross_sales));
    println!("  discounts      {:>16}", rp(z.discounts));
    println!("  PPN included   {:>16}", rp(z.tax));
    println!("  cash rounding  {:>16}", rp(z.rounding));
    for (m, a) in &z.sales_by_method {
        println!("  {:<14} {:>16}", m.as_str(), rp(*a));
    }
    for (m, a) in &z.refunds_by_method {
        println!("  refund {:<7} {:>16}", m.as_str(), rp(*a));
    }
    println!("  expected cash  {:>16}", rp(z.expected_cash));
    println!(
        "  counted cash   {:>16}",
        rp(z.counted_cash.unwrap_or_default())
    );
    println!(
        "  over/short     {:>16}",
        rp(z.over_short.unwrap_or_default())
    );
    let d = node.diagnostics()?;
    println!(
        "\n{} records queued for HQ; stock and points consistent: {}",
        d.outbox_waiting,
        d.stock_discrepancies.is_empty() && d.loyalty_discrepancies.is_empty()
    );
    node.close();
    Ok(())
}
