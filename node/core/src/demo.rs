//! Generated store data of realistic shape, for the demo store, benchmarks and simulations:
//! products with valid EAN-13 barcodes, customers with Indonesian phone numbers, and a history
//! of sales spread over days. Deterministic for a given seed.

use chrono::{DateTime, Duration, Utc};
use kasir_schema::Decimal;
use kasir_schema::barcode::with_check_digit;
use kasir_schema::checkout::{LineInput, PricingContext, Quantity, compute_totals};
use kasir_schema::domain::{
    Category, Customer, CustomerId, Product, Sale, SaleId, SaleLine, SalePayment, SaleUnit,
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

/// How much a lane [`big_lane`] makes holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BigLane {
    pub products: usize,
    pub customers: usize,
    pub days: u32,
    pub per_day: u32,
}

impl BigLane {
    /// 100k products, 50k customers and a year of sales (1,096 a day, 2M sale lines): the size
    /// the performance targets are set for.
    pub fn year() -> BigLane {
        BigLane {
            products: 100_000,
            customers: 50_000,
            days: 365,
            per_day: 1_096,
        }
    }
}

/// A lane file in `dir` holding `size` (store JKT01, lane 1, manager `maya` with PIN 9999; the
/// products of [`products`] with seed 1, sales ending at `until`), generated once under a
/// name that says its size and reused by later calls (benchmarks share it). `say` hears the
/// progress of a generation (minutes for a year).
pub fn big_lane(
    dir: &std::path::Path,
    size: BigLane,
    options: crate::TillOptions,
    until: DateTime<Utc>,
    say: &mut dyn FnMut(&str),
) -> Result<std::path::PathBuf> {
    let io = |e: std::io::Error| NodeError::DatabaseOpen {
        path: dir.to_path_buf(),
        detail: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let path = dir.join(format!(
        "lane-{}p-{}c-{}d-{}s.db",
        size.products, size.customers, size.days, size.per_day
    ));
    if path.exists() {
        return Ok(path);
    }
    let tmp = path.with_extension("partial");
    remove_lane(&tmp);
    let mut till = Till::open(&tmp, options)?;
    let cfg = crate::default_store_config("JKT01", "Bench Store")?;
    let lane = LaneNo::new(1).expect("lane 1");
    till.set_up(
        cfg.clone(),
        lane,
        crate::NewUser {
            username: "maya".into(),
            full_name: "Maya".into(),
            role: kasir_schema::roles::Role::Manager,
            pin: "9999".into(),
        },
    )?;
    let catalog = products(size.products, 1);
    say(&format!("generating {} products …", size.products));
    till.import_products(&catalog)?;
    say(&format!("generating {} customers …", size.customers));
    till.import_customers(&customers(size.customers, 1))?;
    let mut seq = 1;
    for day in (0..size.days).rev() {
        let sales = sales(&SalesPlan {
            catalog: &catalog,
            store: cfg.code.clone(),
            lane,
            first_seq: seq,
            days: 1,
            per_day: size.per_day,
            until: until - Duration::days(i64::from(day)),
            seed: u64::from(day),
        })?;
        seq += sales.len() as u64;
        till.import_sales(&sales)?;
        if day % 30 == 0 {
            say(&format!("  sales: {day} days to go, {} so far", seq - 1));
        }
    }
    drop(till);
    // The ledger file first: a lane file is only complete beside its ledger file.
    std::fs::rename(crate::db::ledger_path(&tmp), crate::db::ledger_path(&path)).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    remove_lane(&tmp);
    say(&format!("generated {}", path.display()));
    Ok(path)
}

/// Removes a lane's files: the lane file, its ledger file, and their WAL and shared memory.
pub fn remove_lane(path: &std::path::Path) {
    for file in [path.to_path_buf(), crate::db::ledger_path(path)] {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = file.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The demo store's departments: (name, brands, goods, sizes). Goods of the last two are
/// weighed at a scale (`20…` labels carry the weight) or labelled with their price (`25…`).
struct Department {
    name: &'static str,
    brands: &'static [&'static str],
    goods: &'static [&'static str],
    sizes: &'static [&'static str],
}

const DEPARTMENTS: &[Department] = &[
    Department {
        name: "Sembako",
        brands: &[
            "Rose Brand",
            "Bimoli",
            "Sania",
            "Filma",
            "Gulaku",
            "Bogasari",
            "Sajiku",
            "Sedaap",
        ],
        goods: &[
            "Minyak Goreng",
            "Gula Pasir",
            "Tepung Terigu",
            "Beras Premium",
            "Garam Beryodium",
            "Kecap Manis",
            "Tepung Beras",
            "Bumbu Nasi Goreng",
        ],
        sizes: &["250 g", "500 g", "1 kg", "2 kg", "5 kg", "1 L", "2 L"],
    },
    Department {
        name: "Makanan Instan",
        brands: &[
            "Indomie",
            "Mie Sedaap",
            "Supermi",
            "Sarimi",
            "Pop Mie",
            "ABC",
            "Sakura",
            "Lemonilo",
        ],
        goods: &[
            "Mi Goreng",
            "Mi Kuah Soto",
            "Mi Kuah Ayam Bawang",
            "Mi Goreng Pedas",
            "Bihun Goreng",
            "Sarden Saus Tomat",
            "Kornet Sapi",
            "Mi Kuah Kari Ayam",
        ],
        sizes: &[
            "70 g",
            "85 g",
            "90 g",
            "155 g",
            "isi 5",
            "isi 10",
            "Karton isi 40",
        ],
    },
    Department {
        name: "Minuman",
        brands: &[
            "Teh Botol Sosro",
            "Aqua",
            "Le Minerale",
            "Pocari Sweat",
            "Coca-Cola",
            "Good Day",
            "Kapal Api",
            "Nescafe",
            "Frestea",
            "Buavita",
        ],
        goods: &[
            "Air Mineral",
            "Teh Melati",
            "Kopi Susu",
            "Kopi Hitam",
            "Minuman Isotonik",
            "Minuman Soda",
            "Jus Jeruk",
            "Teh Hijau",
        ],
        sizes: &[
            "250 ml", "330 ml", "350 ml", "600 ml", "1,5 L", "isi 6", "isi 12",
        ],
    },
    Department {
        name: "Makanan Ringan",
        brands: &[
            "Chitato",
            "Qtela",
            "Taro",
            "Oreo",
            "Roma",
            "Tango",
            "Beng-Beng",
            "SilverQueen",
            "Khong Guan",
            "Garuda",
        ],
        goods: &[
            "Keripik Kentang",
            "Keripik Singkong",
            "Biskuit Kelapa",
            "Wafer Cokelat",
            "Cokelat Susu",
            "Kacang Atom",
            "Biskuit Kaleng",
            "Kacang Kulit",
        ],
        sizes: &["35 g", "55 g", "68 g", "120 g", "250 g", "650 g", "isi 10"],
    },
    Department {
        name: "Susu & Olahan",
        brands: &[
            "Ultra Milk",
            "Indomilk",
            "Frisian Flag",
            "Dancow",
            "Bear Brand",
            "Cimory",
            "Kraft",
            "Greenfields",
        ],
        goods: &[
            "Susu UHT Cokelat",
            "Susu UHT Full Cream",
            "Susu Kental Manis",
            "Susu Bubuk",
            "Yoghurt Stroberi",
            "Keju Cheddar",
            "Susu Steril",
            "Susu UHT Stroberi",
        ],
        sizes: &[
            "125 ml", "189 ml", "200 ml", "250 ml", "1 L", "400 g", "800 g",
        ],
    },
    Department {
        name: "Perawatan Diri",
        brands: &[
            "Lifebuoy",
            "Lux",
            "Pepsodent",
            "Sunsilk",
            "Clear",
            "Nuvo",
            "Ciptadent",
            "Wardah",
            "Biore",
            "Rexona",
        ],
        goods: &[
            "Sabun Mandi",
            "Sampo",
            "Pasta Gigi",
            "Sikat Gigi",
            "Sabun Cair",
            "Deodoran",
            "Bedak",
            "Kondisioner",
        ],
        sizes: &[
            "75 g", "85 g", "120 g", "170 ml", "250 ml", "450 ml", "isi 3",
        ],
    },
    Department {
        name: "Rumah Tangga",
        brands: &[
            "Rinso",
            "Sunlight",
            "Molto",
            "So Klin",
            "Wipol",
            "Baygon",
            "Stella",
            "Bayclin",
            "Mama Lemon",
            "Vixal",
        ],
        goods: &[
            "Deterjen Bubuk",
            "Sabun Cuci Piring",
            "Pewangi Pakaian",
            "Pembersih Lantai",
            "Obat Nyamuk Semprot",
            "Pengharum Ruangan",
            "Pemutih",
            "Pembersih Kamar Mandi",
        ],
        sizes: &[
            "200 ml",
            "400 ml",
            "600 ml",
            "750 ml",
            "800 g",
            "1,8 kg",
            "Isi Ulang 1,6 L",
        ],
    },
    Department {
        name: "Buah & Sayur",
        brands: &["Segar", "Lokal", "Impor"],
        goods: &[
            "Apel Fuji",
            "Jeruk Medan",
            "Pisang Cavendish",
            "Tomat",
            "Cabai Merah Keriting",
            "Bawang Merah",
            "Kentang",
            "Wortel",
            "Mangga Harum Manis",
            "Semangka",
        ],
        sizes: &["per kg"],
    },
    Department {
        name: "Daging & Ikan",
        brands: &["Segar", "Beku"],
        goods: &[
            "Daging Sapi Has Dalam",
            "Ayam Fillet Dada",
            "Ikan Salmon Potong",
            "Udang Vaname",
            "Ikan Kakap Fillet",
            "Daging Giling",
            "Sayap Ayam",
        ],
        sizes: &["per pak"],
    },
];

/// A demo store's catalog of `n` products (at least the weighed and labelled goods, about 50),
/// deterministic for `seed`: departments as categories `1…9`, names like "Indomie Mi Goreng
/// 85 g" (brand, goods, size, and a pack where the plain combinations run out), EAN-13 codes
/// `899…` with valid check digits, fruit and vegetables weighed at a scale (registered under
/// `20` and a 5-digit item code, so a scale label rings up the weight it prints) and meat and
/// fish labelled with their price (`25` and a 4-digit item code). No HQ ids: HQ gives those.
pub fn store_catalog(n: usize, seed: u64) -> (Vec<Category>, Vec<Product>) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5EED_CA7A);
    let categories: Vec<Category> = DEPARTMENTS
        .iter()
        .enumerate()
        .map(|(i, d)| Category {
            id: i as u64 + 1,
            name: d.name.to_string(),
            description: None,
            parent_id: None,
            sort_order: i32::try_from(i).unwrap_or(0),
            is_active: true,
        })
        .collect();
    let mut products = Vec::with_capacity(n);
    let push = |products: &mut Vec<Product>,
                name: String,
                category: u64,
                unit: SaleUnit,
                barcode: Option<String>,
                price: i64| {
        let i = products.len();
        let price = Decimal::from(price);
        products.push(Product {
            sku: format!("SKU-{:05}", i + 1),
            server_id: None,
            barcode,
            name,
            description: None,
            category_id: Some(category),
            unit,
            cost_price: (price * Decimal::new(78, 2)).round_dp(0),
            selling_price: price,
            min_stock: Decimal::from(5),
            max_stock: Decimal::from(500),
            is_active: true,
        });
    };
    // Fresh goods first, so every catalog size has some.
    let (packed, fresh) = DEPARTMENTS.split_at(DEPARTMENTS.len() - 2);
    for (d, dep) in fresh.iter().enumerate() {
        let (origins, goods) = (dep.brands, dep.goods);
        let weighed = d == 0;
        for (g, good) in goods.iter().enumerate() {
            for (o, origin) in origins.iter().enumerate() {
                let item = g * origins.len() + o + 1;
                let (unit, barcode, price) = if weighed {
                    (
                        SaleUnit::Kilogram,
                        format!("20{item:05}"),
                        rng.random_range(8..90) * 1_000,
                    )
                } else {
                    (
                        SaleUnit::Piece,
                        format!("25{item:04}"),
                        rng.random_range(30..200) * 1_000,
                    )
                };
                push(
                    &mut products,
                    format!("{good} {origin}"),
                    (packed.len() + d + 1) as u64,
                    unit,
                    Some(barcode),
                    price,
                );
            }
        }
    }
    let packs = [
        "",
        " (isi 2)",
        " (isi 3)",
        " (Renteng isi 6)",
        " (Karton isi 24)",
    ];
    'fill: for (p, pack) in packs.iter().enumerate() {
        for (c, dep) in packed.iter().enumerate() {
            for brand in dep.brands {
                for good in dep.goods {
                    // A brand's goods cost more in bigger sizes (the sizes run small to big)
                    // and in packs of several.
                    let smallest = rng.random_range(4..40) * 500;
                    for (k, size) in dep.sizes.iter().enumerate() {
                        if products.len() >= n {
                            break 'fill;
                        }
                        let base = smallest * (k as i64 * 7 + 10) / 1_000 * 100;
                        let factor = [1, 2, 3, 6, 24][p];
                        let body = format!("899{:09}", 1_000_000 + products.len());
                        push(
                            &mut products,
                            format!("{brand} {good} {size}{pack}"),
                            c as u64 + 1,
                            SaleUnit::Piece,
                            with_check_digit(&body),
                            base * factor,
                        );
                    }
                }
            }
        }
    }
    (categories, products)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_catalog_is_valid_unique_and_has_weighed_and_labelled_goods() {
        let (categories, products) = store_catalog(5_000, 7);
        assert_eq!(products.len(), 5_000);
        assert_eq!(categories.len(), DEPARTMENTS.len());
        let mut skus = std::collections::BTreeSet::new();
        let mut codes = std::collections::BTreeSet::new();
        let mut names = std::collections::BTreeSet::new();
        for p in &products {
            crate::catalog::validate_product(p).unwrap();
            assert!(skus.insert(p.sku.clone()), "{}", p.sku);
            let code = p.barcode.clone().unwrap();
            assert!(codes.insert(code.clone()), "{code}");
            assert!(names.insert(p.name.clone()), "{}", p.name);
            assert!(p.selling_price > p.cost_price && p.cost_price > Decimal::ZERO);
            if code.len() == 13 {
                assert!(code.starts_with("899"));
                assert_eq!(
                    with_check_digit(&code[..12]).as_deref(),
                    Some(code.as_str())
                );
            }
        }
        let weighed = products
            .iter()
            .filter(|p| p.unit == SaleUnit::Kilogram)
            .count();
        let labelled = products
            .iter()
            .filter(|p| p.barcode.as_deref().is_some_and(|b| b.starts_with("25")))
            .count();
        assert!(weighed >= 20 && labelled >= 10, "{weighed} {labelled}");
        assert_eq!(
            store_catalog(5_000, 7),
            (categories, products),
            "deterministic"
        );
    }
}
