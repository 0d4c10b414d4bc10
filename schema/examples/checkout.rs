//! Rings up a demo basket with kasir's checkout math and prints the receipt amounts.
//!
//! `cargo run -p kasir-schema --example checkout` — or scan your own codes and pay:
//! `cargo run -p kasir-schema --example checkout -- 8998866200301 2012345012500 --cash 150.000`
//! (variable-measure codes are priced from a demo catalog; unknown codes are reported).

use kasir_schema::barcode::{self, Measure, Nomenclature, Scanned};
use kasir_schema::checkout::{Discount, LineInput, PricingContext, Quantity, compute_totals};
use kasir_schema::money::{format_decimal, parse_decimal};
use kasir_schema::payment::{PaymentMethod, Tender, settle};
use kasir_schema::tax::{PriceMode, TaxConfig, TaxRate};
use kasir_schema::{CashIncrement, Currency, Decimal, Money};

/// (lookup key, name, unit price per piece or per kg)
const CATALOG: &[(&str, &str, i64)] = &[
    ("8998866200301", "Indomie Goreng 85 g", 3_500),
    ("0036000291452", "Kopi Bubuk 200 g", 12_500),
    ("2012345", "Daging Sapi Has Dalam /kg", 135_000),
    ("250042", "Kue Basah (harga di label)", 1),
];

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let mut codes = Vec::new();
    let mut cash = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--cash" => {
                let v = args
                    .next()
                    .ok_or("--cash needs an amount, e.g. --cash 150.000")?;
                cash = Some(parse_decimal(&v).map_err(|e| format!("--cash {v}: {e}"))?);
            }
            "-h" | "--help" => {
                println!("usage: checkout [BARCODE ...] [--cash AMOUNT]");
                return Ok(());
            }
            code => codes.push(code.to_string()),
        }
    }
    if codes.is_empty() {
        let weighed = barcode::with_check_digit("201234500675").ok_or("demo code")?;
        codes = vec![
            "8998866200301".into(),
            "8998866200301".into(),
            "036000291452".into(),
            weighed,
        ];
    }
    let nomenclature = Nomenclature::default();
    let mut lines = Vec::new();
    let mut names = Vec::new();
    for code in &codes {
        let scanned = barcode::parse(code, &nomenclature).map_err(|e| format!("{code}: {e}"))?;
        let (key, qty, price_override) = match &scanned {
            Scanned::Gtin(g) => (g.key.clone(), Decimal::ONE, None),
            Scanned::VariableMeasure(v) => match v.measure {
                Measure::Weight { .. } => {
                    (v.lookup_key(), v.measure.kilograms().ok_or("weight")?, None)
                }
                Measure::Price { amount } => (v.lookup_key(), Decimal::ONE, Some(amount)),
            },
        };
        let Some((_, name, price)) = CATALOG.iter().find(|(k, _, _)| *k == key) else {
            return Err(format!(
                "{code}: not found in the demo catalog; search by name instead"
            ));
        };
        let quantity = Quantity::new(qty).map_err(|e| e.to_string())?;
        let unit_price = price_override.unwrap_or(Decimal::from(*price));
        lines.push(LineInput {
            quantity,
            unit_price,
            discount: None,
        });
        names.push(*name);
    }
    // A member discount of 5 % on the whole basket, PPN 11 % included in shelf prices.
    let ctx = PricingContext {
        currency: Currency::Idr,
        tax: TaxConfig {
            rate: TaxRate::PPN,
            mode: PriceMode::TaxInclusive,
        },
    };
    let totals = compute_totals(&lines, Some(Discount::Percent(Decimal::from(5))), &ctx)
        .map_err(|e| e.to_string())?;
    let rp = |d: Decimal| Money::idr(d).map(|m| m.to_string()).unwrap_or_default();
    for ((line, t), name) in lines.iter().zip(&totals.lines).zip(&names) {
        println!(
            "{name:<30} {:>7} x {:>12} = {:>14}",
            format_decimal(line.quantity.get(), line.quantity.get().scale()),
            rp(line.unit_price),
            rp(t.total_price)
        );
    }
    println!("{:<45} {:>20}", "Subtotal", rp(totals.subtotal));
    println!("{:<45} {:>20}", "Diskon", rp(totals.discount_amount));
    println!("{:<45} {:>20}", "TOTAL", rp(totals.total_amount));
    println!("{:<45} {:>20}", "  termasuk PPN 11%", rp(totals.tax_amount));
    let tendered = cash.unwrap_or_else(|| {
        // Round the total up to the next Rp 50.000 note, as a customer would hand it over.
        let note = Decimal::from(50_000);
        (totals.total_amount / note).ceil() * note
    });
    let s = settle(
        totals.total_amount,
        &[Tender::new(PaymentMethod::Cash, tendered)],
        CashIncrement::default(),
    )
    .map_err(|e| e.to_string())?;
    println!("{:<45} {:>20}", "Tunai", rp(s.cash_tendered));
    println!("{:<45} {:>20}", "Kembali", rp(s.change));
    println!("{:<45} {:>20}", "Pembulatan", rp(s.rounding_adjustment));
    Ok(())
}
