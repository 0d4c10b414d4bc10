//! Round trips of the seed's §3, §7.1 and §10.1 JSON bodies (copied into `tests/fixtures/`,
//! placeholders filled with realistic records): each parses into its type and serializes back
//! to the same JSON, numbers included.

use kasir_schema::checkout::{Discount, LineInput, PricingContext, Quantity, compute_totals};
use kasir_schema::payment::{PaymentMethod, Tender, settle};
use kasir_schema::tax::{PriceMode, TaxConfig, TaxRate};
use kasir_schema::wire::*;
use kasir_schema::{CashIncrement, Currency, Decimal};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Parses the fixture as `T`, serializes it and compares with the fixture as JSON values.
fn round_trip<T: DeserializeOwned + Serialize>(name: &str) -> T {
    let text = fixture(name);
    let parsed: T = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let back = serde_json::to_value(&parsed).unwrap();
    let original: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(back, original, "{name} did not round-trip");
    parsed
}

#[test]
fn auth_bodies() {
    let req: LoginRequest = round_trip("auth_login_request.json");
    assert_eq!(req.store_id.as_deref(), Some("JKT01"));
    let resp: LoginResponse = round_trip("auth_login_response.json");
    assert_eq!(resp.token_type, "Bearer");
    assert_eq!(resp.user.role, kasir_schema::roles::Role::Cashier);
    round_trip::<RefreshResponse>("auth_refresh_response.json");
    let bye: MessageResponse = round_trip("auth_logout_response.json");
    assert_eq!(bye.message, "Successfully logged out");
}

#[test]
fn sync_bodies() {
    let down: SyncDownloadResponse = round_trip("sync_download_response.json");
    let products = down.data.products.unwrap();
    assert_eq!(products[1].stock_quantity, Decimal::new(12750, 3));
    assert_eq!(down.data.settings.unwrap().tax_rate, Decimal::new(1100, 2));
    round_trip::<SyncUploadRequest>("sync_upload_request.json");
    let resp: SyncUploadResponse = round_trip("sync_upload_response.json");
    assert_eq!(resp.processed.transactions.success, 10);
    let status: SyncStatusResponse = round_trip("sync_status_response.json");
    assert_eq!(status.status, SyncState::UpToDate);
}

#[test]
fn product_bodies() {
    let list: ProductListResponse = round_trip("products_list_response.json");
    assert_eq!(list.data[0].selling_price, Decimal::from(25000));
    assert_eq!(list.meta.per_page, 50);
    let upd: StockUpdateRequest = round_trip("product_stock_update_request.json");
    assert_eq!(upd.quantity, Decimal::from(50));
}

#[test]
fn error_and_health_bodies() {
    let err: ErrorBody = round_trip("error_body.json");
    assert!(err.error);
    assert!(err.trace.is_none());
    let health: HealthResponse = round_trip("health_response.json");
    assert_eq!(health.checks["database"].status, "ok");
}

#[test]
fn money_is_exact_on_the_wire() {
    // A float would turn 0.1 + 0.2 into 0.30000000000000004; a decimal must not.
    let item: ProductListItem = serde_json::from_str(
        r#"{"id":1,"barcode":null,"sku":"A","name":"A","category":null,
            "selling_price":9999999999999.99,"stock_quantity":"0.1","is_available":true}"#,
    )
    .unwrap();
    assert_eq!(item.selling_price.to_string(), "9999999999999.99");
    assert_eq!(item.stock_quantity, Decimal::new(1, 1));
    let json = serde_json::to_string(&item).unwrap();
    assert!(
        json.contains(r#""selling_price":9999999999999.99"#),
        "{json}"
    );
    assert!(json.contains(r#""stock_quantity":0.1"#), "{json}");
}

#[test]
fn requests_refuse_unknown_fields() {
    let mut body: Value = serde_json::from_str(&fixture("sync_upload_request.json")).unwrap();
    body["data"]["transactions"][0]["is_admin"] = Value::Bool(true);
    let err = serde_json::from_value::<SyncUploadRequest>(body).unwrap_err();
    assert!(
        err.to_string().contains("unknown field `is_admin`"),
        "{err}"
    );
    let err = serde_json::from_str::<LoginRequest>(
        r#"{"username":"a","password":"b","role":"super_admin"}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("unknown field `role`"), "{err}");
}

/// The uploaded sale in the fixture is what kasir's own checkout math produces for its lines,
/// so the fixture can serve gateway tests that check totals.
#[test]
fn upload_fixture_amounts_match_the_checkout_math() {
    let req: SyncUploadRequest =
        serde_json::from_str(&fixture("sync_upload_request.json")).unwrap();
    let sale = &req.data.transactions[0];
    let lines: Vec<LineInput> = sale
        .details
        .iter()
        .map(|d| LineInput {
            quantity: Quantity::new(d.quantity).unwrap(),
            unit_price: d.unit_price,
            discount: (!d.discount_amount.is_zero()).then_some(Discount::Amount(d.discount_amount)),
        })
        .collect();
    let ctx = PricingContext {
        currency: Currency::Idr,
        tax: TaxConfig {
            rate: TaxRate::PPN,
            mode: PriceMode::TaxInclusive,
        },
    };
    let line_discounts: Decimal = sale.details.iter().map(|d| d.discount_amount).sum();
    let t = compute_totals(
        &lines,
        Some(Discount::Amount(sale.discount_amount - line_discounts)),
        &ctx,
    )
    .unwrap();
    assert_eq!(
        (t.subtotal, t.discount_amount, t.tax_amount, t.total_amount),
        (
            sale.subtotal,
            sale.discount_amount,
            sale.tax_amount,
            sale.total_amount
        )
    );
    for (computed, sent) in t.lines.iter().zip(&sale.details) {
        assert_eq!(
            (computed.total_price, computed.tax_amount),
            (sent.total_price, sent.tax_amount)
        );
    }
    let card = &sale.payments[0];
    let cash = &sale.payments[1];
    let s = settle(
        sale.total_amount,
        &[
            Tender::new(PaymentMethod::Card, card.amount),
            Tender::cash(cash.amount + sale.change_amount),
        ],
        CashIncrement::default(),
    )
    .unwrap();
    assert_eq!(
        (s.change, s.rounding_adjustment),
        (sale.change_amount, sale.rounding_amount)
    );
    assert_eq!(s.payments[1].amount, cash.amount);
}
