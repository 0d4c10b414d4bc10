//! Generated store data of realistic shape, for the demo store, benchmarks and simulations:
//! products with valid EAN-13 barcodes, customers with Indonesian phone numbers, and a history
//! of sales spread over days. Deterministic for a given seed.

use chrono::{DateTime, Duration, Utc};
use kasir_schema::Decimal;
use kasir_schema::barcode::with_check_digit;
use kasir_schema::checkout::{LineInput, PricingContext, Quantity, compute_totals};
use kasir_schema::domain::{
    Customer, CustomerId, Product, Sale, SaleId, SaleLine, SalePayment, SaleUnit,
};
use kasir_schema::payment::{PaymentMethod, TransactionPaymentMethod};
use kasir_schema::txn_number::{LaneNo, StoreCode, TxnNumber};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::customers::{customer_fields, project_customer};
use crate::docs::{self, DocId};
use crate::error::{NodeError, Result};
use crate::sale::{Pending, put_sale, write_sale};
use crate::till::Till;

const WORDS: &[&str] = &[
    "Indomie", "Kopi", "Teh", "Gula", "Beras", "Minyak", "Sabun", "Susu", "Roti", "Kecap", "Saus",
    "Biskuit", "Air", "Mie", "Telur", "Tepung", "Garam", "Sambal", "Coklat", "Keju", "Sirup",
    "Permen", "Wafer", "Sarden",
];
const SIZES: &[&str] = &[
    "85 g", "200 g", "500 g", "1 kg", "250 ml", "600 ml", "1 L", "5 kg", "isi 10",
];

/// `n` products: SKU `P000001…`, EAN-13 barcodes `899…` with valid check digits, every 25th
/// one sold by weight.
pub fn products(n: usize, seed: u64) -> Vec<Product> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let body = format!("899{:09}", i);
            let weighed = i % 25 == 0;
            Product {
                sku: format!("P{i:06}"),
                server_id: Some(i as u64 + 1),
                barcode: with_check_digit(&body),
                name: format!(
                    "{} {} {} #{i}",
                    WORDS[rng.random_range(0..WORDS.len())],
                    WORDS[rng.random_range(0..WORDS.len())],
                    SIZES[rng.random_range(0..SIZES.len())]
                ),
                description: None,
                category_id: Some(rng.random_range(1..40)),
                unit: if weighed {
                    SaleUnit::Kilogram
                } else {
                    SaleUnit::Piece
                },
                cost_price: Decimal::from(rng.random_range(10..2_000) * 50),
                selling_price: Decimal::from(rng.random_range(12..2_500) * 50),
                min_stock: Decimal::from(5),
                max_stock: Decimal::from(500),
                is_active: true,
            }
        })
        .collect()
}

/// `n` customers with unique phone numbers `08…`.
pub fn customers(n: usize, seed: u64) -> Vec<Customer> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xC0FFEE);
    (0..n)
        .map(|i| Customer {
            id: CustomerId(uuid::Builder::from_random_bytes(rng.random()).into_uuid()),
            customer_code: Some(format!("MBR-{i:06}")),
            name: format!(
                "{} {}",
                WORDS[i % WORDS.len()],
                WORDS[(i / 7) % WORDS.len()]
            ),
            email: None,
            phone: Some(format!("0812{:08}", i)),
            address: None,
            date_of_birth: None,
            is_active: true,
        })
        .collect()
}

/// What [`sales`] generates: `per_day` sales a day of one lane for `days` days ending at
/// `until`, numbered from `first_seq`, drawn from `catalog`.
#[derive(Debug, Clone)]
pub struct SalesPlan<'a> {
    pub catalog: &'a [Product],
    pub store: StoreCode,
    pub lane: LaneNo,
    pub first_seq: u64,
    pub days: u32,
    pub per_day: u32,
    pub until: DateTime<Utc>,
    pub seed: u64,
}

/// Sales of one lane, 1–9 lines each (5 on average), priced with the store's checkout math.
pub fn sales(plan: &SalesPlan<'_>) -> Result<Vec<Sale>> {
    let SalesPlan {
        catalog,
        store,
        lane,
        first_seq,
        days,
        per_day,
        until,
        seed,
    } = plan.clone();
    let store = &store;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5A1E);
    let ctx = PricingContext::default();
    let mut out = Vec::with_capacity((days * per_day) as usize);
    let mut seq = first_seq;
    for day in (0..days).rev() {
        let start = until - Duration::days(i64::from(day) + 1);
        for k in 0..per_day {
            let at = start + Duration::seconds(i64::from(k) * 86_400 / i64::from(per_day.max(1)));
            let n_lines: u16 = rng.random_range(1..=9);
            let mut lines = Vec::with_capacity(usize::from(n_lines));
            let mut inputs = Vec::with_capacity(usize::from(n_lines));
            for line_no in 1..=n_lines {
                let p = &catalog[rng.random_range(0..catalog.len())];
                let qty = match p.unit {
                    SaleUnit::Kilogram => Decimal::new(rng.random_range(100..2_000), 3),
                    SaleUnit::Piece => Decimal::from(rng.random_range(1..4)),
                };
                inputs.push(LineInput {
                    quantity: Quantity::new(qty)?,
                    unit_price: p.selling_price,
                    discount: None,
                });
                lines.push(SaleLine {
                    line_no,
                    sku: p.sku.clone(),
                    name: p.name.clone(),
                    quantity: qty,
                    unit_price: p.selling_price,
                    discount_amount: Decimal::ZERO,
                    total_price: Decimal::ZERO,
                    transaction_discount_share: Decimal::ZERO,
                    tax_amount: Decimal::ZERO,
                    amount_due: Decimal::ZERO,
                    price_override_by: None,
                });
            }
            let t = compute_totals(&inputs, None, &ctx)?;
            for (l, lt) in lines.iter_mut().zip(&t.lines) {
                l.total_price = lt.total_price;
                l.tax_amount = lt.tax_amount;
                l.amount_due = lt.amount_due;
            }
            let number = TxnNumber::new(store.clone(), lane, seq)
                .map_err(|e| NodeError::Invalid(e.to_string()))?;
            seq += 1;
            out.push(Sale {
                id: SaleId(uuid::Builder::from_random_bytes(rng.random()).into_uuid()),
                number,
                store: store.clone(),
                lane,
                shift: None,
                cashier_id: 1,
                customer: None,
                created_at: at,
                lines,
                payments: vec![SalePayment {
                    method: PaymentMethod::Card,
                    amount: t.total_amount,
                    reference: None,
                }],
                payment_method: TransactionPaymentMethod::Card,
                subtotal: t.subtotal,
                discount_amount: t.discount_amount,
                tax_amount: t.tax_amount,
                total_amount: t.total_amount,
                cash_tendered: Decimal::ZERO,
                change_amount: Decimal::ZERO,
                rounding_amount: Decimal::ZERO,
                loyalty_points_earned: 0,
                loyalty_points_redeemed: 0,
                notes: None,
            });
        }
    }
    Ok(out)
}

impl Till {
    /// Creates or updates customers in one transaction (HQ download, migration from another
    /// system, benchmarks).
    pub fn import_customers(&mut self, list: &[Customer]) -> Result<usize> {
        let now = crate::db::ts(self.now());
        self.write(|tx, docs| {
            let mut by_shard: std::collections::BTreeMap<DocId, Vec<&Customer>> =
                Default::default();
            for c in list {
                by_shard
                    .entry(DocId::customers_for(&c.id.to_string()))
                    .or_default()
                    .push(c);
            }
            for (id, group) in by_shard {
                docs.edit(tx, id, |doc| {
                    for c in &group {
                        docs::put_fields(doc, &c.id.to_string(), &customer_fields(c))?;
                    }
                    Ok(())
                })?;
                for c in group {
                    project_customer(tx, c, &now)?;
                }
            }
            Ok(list.len())
        })
    }

    /// Stores sales committed elsewhere (migration of another system's history, benchmarks) as
    /// if this lane had merged them: ledger documents, projections, stock and outbox. Sales
    /// already present are skipped.
    pub fn import_sales(&mut self, sales: &[Sale]) -> Result<usize> {
        // This lane's own sales go to its ledger file (and are projected right after), the
        // others' to the lane file with their projections.
        let (own, others): (Vec<&Sale>, Vec<&Sale>) =
            sales.iter().partition(|s| Some(s.lane.get()) == self.own);
        if !own.is_empty() {
            self.write_ledger(|tx, docs| {
                for s in &own {
                    put_sale(tx, docs, s)?;
                }
                Ok(())
            })?;
            self.pending
                .extend(own.into_iter().map(|s| Pending::Sale(s.clone())));
        }
        self.write(|tx, docs| {
            for s in others {
                write_sale(tx, docs, s)?;
            }
            Ok(())
        })?;
        // Fold the many changes into snapshots, as a long-running lane would have.
        let ids = crate::docs::DocStore::stored_ids(&self.reader())?;
        let now = crate::db::ts(self.now());
        for file in [crate::db::File::Main, crate::db::File::Ledger] {
            self.write_in(file, true, |tx, docs| {
                for id in &ids {
                    docs.compact(tx, *id, 1, &now)?;
                }
                Ok(())
            })?;
        }
        Ok(sales.len())
    }
}
