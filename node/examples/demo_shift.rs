//! A headless demo shift on one lane, on embedded defaults (SQLite, nothing to install):
//! sets up store DEMO01 with 500 products, a manager, a supervisor and a cashier; the cashier
//! sells random baskets (cash, card, split; a loyalty member), a supervisor approves a refund,
//! and the shift closes with its Z report.
//!
//! `cargo run -p kasir-node --example demo_shift -- [--data DIR] [--sales N]`
//! Without `--data` it works in a fresh temporary directory and says where.

use kasir_node::customers::NewCustomer;
use kasir_node::returns::ReturnItem;
use kasir_node::schema::Decimal;
use kasir_node::schema::money::Money;
use kasir_node::schema::payment::{PaymentMethod, Tender};
use kasir_node::schema::roles::{Permission, Role};
use kasir_node::schema::txn_number::LaneNo;
use kasir_node::{AuthParams, NewUser, Till, TillOptions, default_store_config, demo};
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
    let options = TillOptions {
        auth: AuthParams::default(),
        env: kasir_node::env::system(),
    };
    let mut till = Till::open(&path, options)?;
    let products = demo::products(500, 42);
    if !till.is_set_up() {
        let mut config = default_store_config("DEMO01", "Toko Demo Kasir")?;
        config.address = Some("Jl. Merdeka No. 1, Jakarta".into());
        till.set_up(
            config,
            LaneNo::new(1)?,
            NewUser {
                username: "maya".into(),
                full_name: "Maya (manager)".into(),
                role: Role::Manager,
                pin: "9999".into(),
            },
        )?;
        till.login("maya", "9999")?;
        for (username, full_name, role, pin) in [
            ("budi", "Budi (supervisor)", Role::Supervisor, "5678"),
            ("siti", "Siti (kasir)", Role::Cashier, "1234"),
        ] {
            till.create_user(
                NewUser {
                    username: username.into(),
                    full_name: full_name.into(),
                    role,
                    pin: pin.into(),
                },
                None,
            )?;
        }
        till.import_products(&products)?;
        for p in products.iter().take(100) {
            till.receive_stock(
                &p.sku,
                Decimal::from(50),
                Some("opening stock".into()),
                None,
            )?;
        }
        till.logout();
        println!("store DEMO01 set up: 500 products, users maya/9999, budi/5678, siti/1234");
    }

    till.login("siti", "1234")?;
    if till.current_shift()?.is_none() {
        till.open_shift(Decimal::from(500_000))?;
    }
    let member = match till.find_customers("081100000001", 1)?.into_iter().next() {
        Some(c) => c,
        None => till.create_customer(NewCustomer {
            name: "Budi Santoso".into(),
            phone: Some("0811-0000-0001".into()),
            email: None,
            customer_code: Some("MBR-000001".into()),
            address: None,
            date_of_birth: None,
        })?,
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut first_receipt = None;
    for i in 0..sales {
        for _ in 0..rng.random_range(1..=6) {
            let p = &products[rng.random_range(0..100)];
            till.scan(p.barcode.as_deref().unwrap_or(&p.sku))?;
        }
        if i % 5 == 0 {
            till.attach_customer(member.id)?;
        }
        let due = till.cart_totals()?.total_amount;
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
        let receipt = till.pay(&tenders)?;
        if first_receipt.is_none() {
            first_receipt = Some(receipt);
        }
        if i % 10 == 9 {
            till.maintenance()?;
        }
    }
    let first = first_receipt.ok_or("no sale")?;
    println!("\nfirst receipt:\n{}", first.to_text(42));

    let approval = till.approve("budi", "5678", Permission::Refund)?;
    let refund = till.refund(
        &first.number,
        &[ReturnItem {
            line_no: 1,
            quantity: Decimal::ONE,
        }],
        PaymentMethod::Cash,
        Some("kemasan rusak".into()),
        Some(&approval),
    )?;
    println!(
        "refund {} of {}: {} in cash (approved by budi)",
        refund.number,
        first.number,
        rp(refund.refund_amount)
    );

    let approval = till.approve("budi", "5678", Permission::CloseShift)?;
    let x_ok = till.approve("budi", "5678", Permission::ViewShiftReport)?;
    let expected = till.x_report(Some(&x_ok))?.expected_cash;
    let z = till.close_shift(expected - Decimal::from(2_000), Some(&approval))?;
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
    let (waiting, _) = till.outbox_counts()?;
    println!(
        "\n{waiting} records queued for HQ; stock and points consistent: {}",
        till.stock_discrepancies()?.is_empty() && till.loyalty_discrepancies()?.is_empty()
    );
    Ok(())
}
