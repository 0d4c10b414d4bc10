//! Shared set-up for the node's scenario tests: a store with a small catalog and three staff.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use kasir_core::schema::Decimal;
use kasir_core::schema::domain::{Product, SaleUnit};
use kasir_core::schema::roles::Role;
use kasir_core::schema::txn_number::LaneNo;
use kasir_core::{AuthParams, Env, ManualClock, NewUser, Till, TillOptions, default_store_config};

pub const MANAGER: (&str, &str) = ("maya", "9999");
pub const SUPERVISOR: (&str, &str) = ("budi", "5678");
pub const CASHIER: (&str, &str) = ("siti", "1234");

pub fn clock() -> Arc<ManualClock> {
    ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap())
}

pub fn options(clock: Arc<ManualClock>) -> TillOptions {
    options_seeded(clock, 1)
}

/// Options on `clock` with randomness seeded by `seed` (give each lane its own).
pub fn options_seeded(clock: Arc<ManualClock>, seed: u64) -> TillOptions {
    TillOptions {
        env: Env::seeded(clock, seed),
        auth: AuthParams::fast_for_tests(),
    }
}

pub fn product(
    sku: &str,
    barcode: Option<&str>,
    name: &str,
    price: i64,
    unit: SaleUnit,
) -> Product {
    Product {
        sku: sku.into(),
        server_id: None,
        barcode: barcode.map(str::to_string),
        name: name.into(),
        description: None,
        category_id: None,
        unit,
        cost_price: Decimal::ZERO,
        selling_price: Decimal::from(price),
        min_stock: Decimal::ZERO,
        max_stock: Decimal::from(1000),
        is_active: true,
    }
}

pub fn catalog() -> Vec<Product> {
    vec![
        product(
            "IDM-GRG-85",
            Some("8998866200301"),
            "Indomie Goreng 85 g",
            3_500,
            SaleUnit::Piece,
        ),
        product(
            "KOP-KAP-200",
            Some("0036000291452"),
            "Kopi Kapal Api 200 g",
            12_500,
            SaleUnit::Piece,
        ),
        product(
            "DAG-SAP-KG",
            Some("2012345"),
            "Daging Sapi Has Dalam",
            135_000,
            SaleUnit::Kilogram,
        ),
        product(
            "KUE-BSH",
            Some("250042"),
            "Kue Basah (label)",
            1,
            SaleUnit::Piece,
        ),
        product(
            "TEH-BTL-350",
            Some("8992761111113"),
            "Teh Botol 350 ml",
            4_000,
            SaleUnit::Piece,
        ),
    ]
}

/// A set-up lane 1 of store JKT01 with the catalog, stock of 100 of each, and three users;
/// nobody logged in.
pub fn store(dir: &Path, clock: Arc<ManualClock>) -> Till {
    store_lane(dir, clock, 1)
}

pub fn store_lane(dir: &Path, clock: Arc<ManualClock>, lane: u32) -> Till {
    store_lane_seeded(dir, clock, lane, u64::from(lane))
}

/// [`store_lane`] with its randomness seeded by `seed`.
pub fn store_lane_seeded(dir: &Path, clock: Arc<ManualClock>, lane: u32, seed: u64) -> Till {
    let mut till = set_up_lane(dir, lane, options_seeded(clock, seed));
    till.login(MANAGER.0, MANAGER.1).unwrap();
    for (u, full, role) in [
        (SUPERVISOR, "Budi Supervisor", Role::Supervisor),
        (CASHIER, "Siti Kasir", Role::Cashier),
    ] {
        till.create_user(
            NewUser {
                username: u.0.into(),
                full_name: full.into(),
                role,
                pin: u.1.into(),
            },
            None,
        )
        .unwrap();
    }
    till.import_products(&catalog()).unwrap();
    for p in catalog() {
        till.receive_stock(
            &p.sku,
            Decimal::from(100),
            Some("opening stock".into()),
            None,
        )
        .unwrap();
    }
    till.logout();
    till
}

/// Logs the cashier in and opens a shift with a Rp 500.000 float.
pub fn cashier_on_shift(till: &mut Till) {
    till.login(CASHIER.0, CASHIER.1).unwrap();
    till.open_shift(Decimal::from(500_000)).unwrap();
}

/// A sign-up with a name and a phone, nothing else.
pub fn member(name: &str, phone: &str) -> kasir_core::customers::NewCustomer {
    kasir_core::customers::NewCustomer {
        name: name.into(),
        phone: Some(phone.into()),
        email: None,
        customer_code: None,
        address: None,
        date_of_birth: None,
    }
}

pub fn d(v: i64) -> Decimal {
    Decimal::from(v)
}

/// A lane of store JKT01 set up with its manager (maya/9999) and nothing else, on a clock of
/// its own, with randomness seeded by its lane number.
pub fn bare_lane(dir: &Path, lane: u32) -> Till {
    set_up_lane(dir, lane, options_seeded(clock(), u64::from(lane)))
}

pub fn set_up_lane(dir: &Path, lane: u32, options: TillOptions) -> Till {
    let mut till = Till::open(dir.join(format!("lane{lane}.db")), options).unwrap();
    till.set_up(
        default_store_config("JKT01", "Toko Sejahtera").unwrap(),
        LaneNo::new(lane).unwrap(),
        NewUser {
            username: MANAGER.0.into(),
            full_name: "Maya Manager".into(),
            role: Role::Manager,
            pin: MANAGER.1.into(),
        },
    )
    .unwrap();
    till
}

/// Opens a lane set up earlier by [`bare_lane`] again (a restart from disk).
pub fn reopen_lane(dir: &Path, lane: u32) -> Till {
    Till::open(
        dir.join(format!("lane{lane}.db")),
        options_seeded(clock(), 1000 + u64::from(lane)),
    )
    .unwrap()
}

/// Every product's stock as stored (thousandths), by SKU: what converged lanes must agree on.
pub fn stock_by_sku(t: &Till) -> Vec<(String, i64)> {
    t.connection()
        .prepare("SELECT sku, stock_quantity FROM products ORDER BY sku")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The trigram name index holds exactly the names in `products` (FTS5's own check, against the
/// content table).
pub fn assert_name_index_matches(t: &Till) {
    t.connection()
        .execute(
            "INSERT INTO products_fts(products_fts, rank) VALUES ('integrity-check', 1)",
            [],
        )
        .expect("the product name index differs from the products table");
}
