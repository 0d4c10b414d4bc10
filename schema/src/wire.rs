//! Wire types of the HQ API: the seed's §3 request and response bodies with exactly its field
//! names, its §7.1 error body and §10.1 health body. Money travels as exact JSON numbers
//! (`"selling_price": 25000`), never through a float.
//!
//! Request bodies reject unknown fields, so a client cannot set what it should not (no mass
//! assignment). Additions beyond the seed are optional fields, so a seed-shaped body still
//! parses; each is marked *(kasir)* below.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::{
    CustomerId, LoyaltyEntry, LoyaltyEntryId, LoyaltyKind, MovementId, MovementType, ReferenceType,
    Sale, SaleFacts, SaleId, StockMovement, sale_effects,
};
use crate::payment::{PaymentMethod, TransactionPaymentMethod};
use crate::roles::Role;
use crate::txn_number::StoreCode;

// ---------------------------------------------------------------- §3.1 authentication

/// `POST /api/auth/login`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(example = crate::api_schema::examples::login())]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schemars(length(min = 1, max = 100))]
    pub username: String,
    #[schemars(length(min = 1, max = 1024))]
    pub password: String,
    /// The store code a store user logs in to; HQ users may leave it out.
    #[serde(default)]
    pub store_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuthUser {
    pub id: u64,
    pub username: String,
    pub full_name: String,
    pub role: Role,
    pub store_id: Option<u64>,
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LoginResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    /// *(kasir)* A rotating refresh token, sent to `/api/auth/refresh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub user: AuthUser,
}

/// `POST /api/auth/refresh`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RefreshResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    /// *(kasir)* The next refresh token; the one just used is spent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// `POST /api/auth/logout`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(example = serde_json::json!({ "message": "Logged out" }))]
pub struct MessageResponse {
    pub message: String,
}

// ---------------------------------------------------------------- §3.2 synchronization

/// Query of `GET /api/sync/download/{store_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncDownloadQuery {
    pub last_sync: Option<DateTime<Utc>>,
    /// Tables to send (repeat the parameter or separate by commas); all when left out.
    #[schemars(inner(regex(
        pattern = r"^(products|categories|customers|settings|stock_movements)$"
    )))]
    pub tables: Option<Vec<String>>,
    /// *(kasir)* An exact, paged download: `0` for everything, then the `cursor` of the
    /// previous answer. Every change HQ committed after the previous page is in a later one,
    /// however late it committed; not combined with `last_sync` or `tables`.
    #[schemars(regex(pattern = r"^(0|1(:-?[0-9]{1,18}){5}|1(:-?[0-9]{1,18}){11})$"))]
    pub cursor: Option<String>,
    /// *(kasir)* Most rows in one page of a `cursor` download (default 5000).
    #[schemars(range(min = 1, max = 50000))]
    pub limit: Option<u32>,
}

/// Rows in a page of a `cursor` download when `limit` is left out.
pub const DOWNLOAD_PAGE_ROWS: u32 = 5000;
/// Most rows in a page of a `cursor` download.
pub const DOWNLOAD_MAX_PAGE_ROWS: u32 = 50_000;

/// Tables `tables=` may name.
pub const DOWNLOAD_TABLES: [&str; 5] = [
    "products",
    "categories",
    "customers",
    "settings",
    "stock_movements",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SyncDownloadResponse {
    pub success: bool,
    pub data: SyncDownloadData,
    pub last_sync: DateTime<Utc>,
    /// *(kasir)* Where this answer leaves the store: pass it as `cursor` next time. Given for
    /// a `cursor` download, and for a download of everything (no `last_sync`, all tables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// *(kasir)* A `cursor` download has more pages: ask again with `cursor` at once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub has_more: bool,
    /// *(kasir)* How far a `cursor` download has come through the changes it began with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<DownloadProgress>,
}

/// *(kasir)* Rows sent so far of the changes a paged download began with (rows changed again
/// while it runs come in a later download, so `sent` may end a little below `total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DownloadProgress {
    pub sent: u64,
    pub total: u64,
}

/// Each table is present when asked for (all by default).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct SyncDownloadData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub products: Option<Vec<DownloadProduct>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<DownloadCategory>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customers: Option<Vec<DownloadCustomer>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<StoreSettings>,
    /// *(kasir)* HQ-originated movements (adjustments, transfers) for the store to apply once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_movements: Option<Vec<StockMovementRecord>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DownloadProduct {
    pub id: u64,
    pub barcode: Option<String>,
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub category_id: Option<u64>,
    pub unit: String,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub cost_price: Decimal,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub selling_price: Decimal,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub stock_quantity: Decimal,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub min_stock: Decimal,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub max_stock: Decimal,
    pub is_active: bool,
    pub is_available: bool,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DownloadCategory {
    pub id: u64,
    pub name: String,
    pub description: Option<String>,
    pub parent_id: Option<u64>,
    pub sort_order: i32,
    pub is_active: bool,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DownloadCustomer {
    pub id: u64,
    pub customer_uuid: CustomerId,
    pub customer_code: Option<String>,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub loyalty_points: i64,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub total_purchases: Decimal,
    pub is_active: bool,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StoreSettings {
    pub store_id: u64,
    pub store_code: String,
    pub store_name: String,
    pub address: Option<String>,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub tax_rate: Decimal,
    pub tax_inclusive: bool,
    pub currency: String,
    pub timezone: String,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub cash_rounding: Decimal,
}

/// The most transactions one upload may carry.
pub const MAX_UPLOAD_TRANSACTIONS: usize = 5_000;

/// `POST /api/sync/upload`. The schema says what the body must look like; each record's own
/// rules (amounts that fit, a line per sale, …) are judged record by record and answered in
/// `processed` (200), never by refusing the whole upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(example = crate::api_schema::examples::upload())]
#[serde(deny_unknown_fields)]
pub struct SyncUploadRequest {
    /// The store code.
    pub store_id: String,
    pub data: SyncUploadData,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncUploadData {
    #[serde(default)]
    #[schemars(length(max = MAX_UPLOAD_TRANSACTIONS))]
    pub transactions: Vec<UploadTransaction>,
    #[serde(default)]
    pub customers: Vec<UploadCustomer>,
    #[serde(default)]
    pub stock_movements: Vec<StockMovementRecord>,
    /// *(kasir)* Loyalty ledger entries (earn, redeem, reverse), each with its own id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loyalty_entries: Vec<LoyaltyEntryRecord>,
    /// *(kasir)* Z reports of the store's lanes: each shift once, when it closed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shift_reports: Vec<ShiftReportRecord>,
}

text_enum! {
    pub enum PaymentStatus("payment status") {
        Pending = "pending",
        Paid = "paid",
        Failed = "failed",
        Refunded = "refunded",
    }
}

text_enum! {
    #[derive(Default)]
    pub enum TenderStatus("tender status") {
        Pending = "pending",
        #[default]
        Success = "success",
        Failed = "failed",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadTransaction {
    /// *(kasir)* The sale's own id: HQ stores each sale once per id. Without it (the seed's
    /// shape), HQ keys the sale by store and `transaction_number` ([`sale_id_by_number`]),
    /// with the same exactly-once guarantee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale_id: Option<SaleId>,
    #[serde(default)]
    pub local_id: Option<i64>,
    pub transaction_number: String,
    /// *(kasir)* Customers are keyed by uuid because lanes create them offline.
    #[serde(default)]
    pub customer_uuid: Option<CustomerId>,
    pub cashier_id: u64,
    pub transaction_date: DateTime<Utc>,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub subtotal: Decimal,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub tax_amount: Decimal,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub discount_amount: Decimal,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub total_amount: Decimal,
    pub payment_method: TransactionPaymentMethod,
    pub payment_status: PaymentStatus,
    #[serde(default)]
    pub notes: Option<String>,
    /// *(kasir)* Cash handed back and cash rounding (what the store kept minus the total).
    #[serde(default)]
    #[schemars(schema_with = "crate::api_schema::number")]
    pub change_amount: Decimal,
    #[serde(default)]
    #[schemars(schema_with = "crate::api_schema::number")]
    pub rounding_amount: Decimal,
    pub details: Vec<UploadTransactionDetail>,
    pub payments: Vec<UploadPaymentDetail>,
    /// *(kasir)* The lane that sold it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lane_no: Option<u16>,
    /// *(kasir)* Loyalty points the sale earned and redeemed (its customer's entries are
    /// derived from them, with the ids every lane derives).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub loyalty_points_earned: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub loyalty_points_redeemed: i64,
}

/// The id HQ gives a sale uploaded without `sale_id`: a UUID v5 of the store code and the
/// transaction number (the seed's unique key), so every upload of it, by any lane, gets the
/// same id.
pub fn sale_id_by_number(store: &StoreCode, transaction_number: &str) -> SaleId {
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6b61_7369_722d_7361_6c65_2d6e_756d_6272);
    SaleId(uuid::Uuid::new_v5(
        &NAMESPACE,
        format!("{}\x1f{}", store.as_str(), transaction_number.trim()).as_bytes(),
    ))
}

impl UploadTransaction {
    /// The sale's id: its own, or the one its store and number give.
    pub fn id(&self, store: &StoreCode) -> SaleId {
        self.sale_id
            .unwrap_or_else(|| sale_id_by_number(store, &self.transaction_number))
    }

    /// The line numbers of the details: their own, or their position (1-based).
    pub fn line_no(&self, index: usize) -> u16 {
        self.details
            .get(index)
            .and_then(|d| d.line_no)
            .unwrap_or_else(|| u16::try_from(index + 1).unwrap_or(u16::MAX))
    }

    /// The stock movements and loyalty entries this sale implies, with exactly the ids
    /// [`Sale::effects`] gives on the lanes, so HQ counts each once however it arrives. Lines
    /// must name their SKU (HQ fills it in from `product_id` or `barcode` first).
    pub fn effects(&self, store: &StoreCode) -> (Vec<StockMovement>, Vec<LoyaltyEntry>) {
        sale_effects(
            &SaleFacts {
                id: self.id(store),
                store,
                cashier_id: self.cashier_id,
                customer: self.customer_uuid,
                loyalty_points_earned: self.loyalty_points_earned,
                loyalty_points_redeemed: self.loyalty_points_redeemed,
                created_at: self.transaction_date,
            },
            self.details
                .iter()
                .enumerate()
                .map(|(i, d)| (self.line_no(i), d.sku.as_deref().unwrap_or(""), d.quantity)),
        )
    }
}

impl From<&Sale> for UploadTransaction {
    /// How a lane forwards a committed sale to HQ.
    fn from(s: &Sale) -> Self {
        UploadTransaction {
            sale_id: Some(s.id),
            local_id: None,
            transaction_number: s.number.to_string(),
            customer_uuid: s.customer,
            cashier_id: s.cashier_id,
            transaction_date: s.created_at,
            subtotal: s.subtotal,
            tax_amount: s.tax_amount,
            discount_amount: s.discount_amount,
            total_amount: s.total_amount,
            payment_method: s.payment_method,
            payment_status: PaymentStatus::Paid,
            notes: s.notes.clone(),
            change_amount: s.change_amount,
            rounding_amount: s.rounding_amount,
            details: s
                .lines
                .iter()
                .map(|l| UploadTransactionDetail {
                    product_id: None,
                    barcode: None,
                    line_no: Some(l.line_no),
                    sku: Some(l.sku.clone()),
                    quantity: l.quantity,
                    unit_price: l.unit_price,
                    discount_amount: l.discount_amount + l.transaction_discount_share,
                    total_price: l.amount_due,
                    tax_amount: l.tax_amount,
                    notes: None,
                })
                .collect(),
            payments: s
                .payments
                .iter()
                .map(|p| UploadPaymentDetail {
                    payment_method: p.method,
                    amount: p.amount,
                    reference_number: p.reference.clone(),
                    payment_status: TenderStatus::Success,
                })
                .collect(),
            lane_no: Some(s.lane.get()),
            loyalty_points_earned: s.loyalty_points_earned,
            loyalty_points_redeemed: s.loyalty_points_redeemed,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadTransactionDetail {
    /// The product, by HQ id (the seed's shape), SKU or barcode: at least one; when several
    /// are given they must name the same product.
    #[serde(default)]
    pub product_id: Option<u64>,
    /// *(kasir)* The line's number in the sale (default: its position, from 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_no: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    /// *(kasir)* The product's barcode, another way to name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub barcode: Option<String>,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub quantity: Decimal,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub unit_price: Decimal,
    #[serde(default)]
    #[schemars(schema_with = "crate::api_schema::number")]
    pub discount_amount: Decimal,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub total_price: Decimal,
    /// *(kasir)* The line's share of the transaction tax.
    #[serde(default)]
    #[schemars(schema_with = "crate::api_schema::number")]
    pub tax_amount: Decimal,
    #[serde(default)]
    pub notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadPaymentDetail {
    pub payment_method: PaymentMethod,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub amount: Decimal,
    /// An approval code or transfer reference; never a card number.
    #[serde(default)]
    pub reference_number: Option<String>,
    #[serde(default)]
    pub payment_status: TenderStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadCustomer {
    pub customer_uuid: CustomerId,
    #[serde(default)]
    pub customer_code: Option<String>,
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub date_of_birth: Option<NaiveDate>,
    #[serde(default = "default_true")]
    pub is_active: bool,
    pub updated_at: DateTime<Utc>,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

fn default_true() -> bool {
    true
}

/// *(kasir)* A lane's Z report: a shift (cash session) closed with the cash counted in the
/// drawer. The lane writes it once, as a `z` record of its ledger document; the leader
/// forwards it, and HQ keeps each shift once (`shift_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShiftReportRecord {
    pub shift_id: crate::domain::ShiftId,
    pub lane_no: u16,
    /// Who opened and who closed the shift (the lane's user ids).
    pub opened_by: u64,
    pub closed_by: u64,
    pub opened_at: DateTime<Utc>,
    pub closed_at: DateTime<Utc>,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub opening_float: Decimal,
    /// Sales rung up in the shift, and the units they sold.
    pub transactions: u64,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub items: Decimal,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub gross_sales: Decimal,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub discounts: Decimal,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub tax: Decimal,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub rounding: Decimal,
    /// Amount taken per payment method (`cash`, `card`, …).
    #[schemars(schema_with = "crate::api_schema::amounts_by_method")]
    pub sales_by_method: BTreeMap<PaymentMethod, Decimal>,
    pub refunds: u64,
    #[schemars(schema_with = "crate::api_schema::amounts_by_method")]
    pub refunds_by_method: BTreeMap<PaymentMethod, Decimal>,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub pay_ins: Decimal,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub pay_outs: Decimal,
    /// Float + cash sales − cash refunds + pay-ins − pay-outs.
    #[schemars(schema_with = "crate::api_schema::number")]
    pub expected_cash: Decimal,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub counted_cash: Decimal,
    /// Counted minus expected: positive is over, negative is short.
    #[schemars(schema_with = "crate::api_schema::number")]
    pub over_short: Decimal,
}

/// A stock movement, up or down the wire. `quantity` is signed (what it adds to stock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StockMovementRecord {
    /// *(kasir)* The movement's own id: each is counted once, wherever it is applied.
    pub movement_id: MovementId,
    #[serde(default)]
    pub product_id: Option<u64>,
    pub sku: String,
    pub movement_type: MovementType,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub quantity: Decimal,
    pub reference_type: ReferenceType,
    #[serde(default)]
    pub sale_id: Option<SaleId>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub created_by: Option<u64>,
    pub created_at: DateTime<Utc>,
    /// The seed's `reference_id`, `from_store_id` and `to_store_id`: the document an HQ
    /// movement belongs to and, for a transfer, the stores it leaves and goes to. HQ sets them
    /// (`PUT /api/products/{id}/stock`) and the download carries them; an upload may not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_store_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_store_id: Option<u64>,
}

impl StockMovementRecord {
    /// The movement as a store holds it (the store's code given).
    pub fn to_movement(&self, store: &crate::txn_number::StoreCode) -> StockMovement {
        StockMovement {
            id: self.movement_id,
            store: store.clone(),
            sku: self.sku.clone(),
            movement_type: self.movement_type,
            reference_type: self.reference_type,
            quantity: self.quantity,
            sale: self.sale_id,
            notes: self.notes.clone(),
            created_by: self.created_by,
            created_at: self.created_at,
        }
    }
}

impl From<&StockMovement> for StockMovementRecord {
    /// A store's movement as it goes up to HQ (HQ sets the product id and the seed's
    /// reference and transfer columns).
    fn from(m: &StockMovement) -> StockMovementRecord {
        StockMovementRecord {
            movement_id: m.id,
            product_id: None,
            sku: m.sku.clone(),
            movement_type: m.movement_type,
            quantity: m.quantity,
            reference_type: m.reference_type,
            sale_id: m.sale,
            notes: m.notes.clone(),
            created_by: m.created_by,
            created_at: m.created_at,
            reference_id: None,
            from_store_id: None,
            to_store_id: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoyaltyEntryRecord {
    pub entry_id: LoyaltyEntryId,
    pub customer_uuid: CustomerId,
    pub kind: LoyaltyKind,
    pub points: i64,
    #[serde(default)]
    pub sale_id: Option<SaleId>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SyncUploadResponse {
    pub success: bool,
    pub processed: Processed,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Processed {
    pub transactions: ProcessedCounts,
    pub customers: ProcessedCounts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_movements: Option<ProcessedCounts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loyalty_entries: Option<ProcessedCounts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift_reports: Option<ProcessedCounts>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct ProcessedCounts {
    pub success: u32,
    pub failed: u32,
    pub errors: Vec<RecordError>,
    /// *(kasir)* One result per record, in request order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<RecordResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RecordError {
    /// The record's own id (sale id, movement id, customer uuid).
    pub id: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    /// Stored now.
    Stored,
    /// Stored before with the same content: nothing changed (a replay).
    Duplicate,
    /// Stored before with different content: refused.
    Conflict,
    /// Refused as invalid.
    Invalid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RecordResult {
    pub id: String,
    pub status: RecordStatus,
}

/// `GET /api/sync/status/{store_id}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SyncStatusResponse {
    pub last_sync: Option<DateTime<Utc>>,
    pub pending_uploads: u64,
    pub sync_errors: Vec<SyncErrorEntry>,
    pub status: SyncState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SyncErrorEntry {
    pub table_name: String,
    pub message: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    UpToDate,
    Pending,
    Error,
    NeverSynced,
}

// ---------------------------------------------------------------- §3.3 products

/// Query of `GET /api/products`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductsQuery {
    #[schemars(example = 1)]
    pub store_id: u64,
    pub category_id: Option<u64>,
    #[schemars(length(max = 100))]
    pub search: Option<String>,
    #[serde(default = "default_per_page")]
    #[schemars(range(min = 1, max = 200))]
    pub per_page: u32,
    #[serde(default = "default_page")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub page: u32,
}

fn default_per_page() -> u32 {
    50
}

fn default_page() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProductListResponse {
    pub data: Vec<ProductListItem>,
    pub meta: PageMeta,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProductListItem {
    pub id: u64,
    pub barcode: Option<String>,
    pub sku: String,
    pub name: String,
    pub category: Option<CategoryRef>,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub selling_price: Decimal,
    #[schemars(schema_with = "crate::api_schema::number")]
    pub stock_quantity: Decimal,
    pub is_available: bool,
    /// *(kasir)* The rest of the store's `store_products` row.
    #[serde(default)]
    #[schemars(schema_with = "crate::api_schema::number")]
    pub min_stock: Decimal,
    #[serde(default)]
    #[schemars(schema_with = "crate::api_schema::number")]
    pub max_stock: Decimal,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub last_restocked: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CategoryRef {
    pub id: u64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PageMeta {
    pub current_page: u32,
    pub total: u64,
    pub per_page: u32,
}

/// `PUT /api/products/{id}/stock`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(example = crate::api_schema::examples::stock_update())]
#[schemars(transform = crate::api_schema::stock_update_variants)]
#[serde(deny_unknown_fields)]
pub struct StockUpdateRequest {
    pub store_id: u64,
    #[schemars(schema_with = "crate::api_schema::signed_quantity")]
    pub quantity: Decimal,
    pub movement_type: MovementType,
    #[serde(default)]
    #[schemars(length(max = 1000))]
    pub notes: Option<String>,
    /// *(kasir)* A client-chosen id that makes a retried request count once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub movement_id: Option<MovementId>,
    /// The seed's `stock_movements.reference_id`: the purchase order, adjustment or transfer
    /// document this movement belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_id: Option<u64>,
    /// For a `transfer`: the store the goods leave (`store_id`, the default) and the store
    /// they go to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_store_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_store_id: Option<u64>,
}

/// `GET /api/products/barcode/{barcode}` and the reply to a stock update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProductResponse {
    pub data: ProductListItem,
}

// ---------------------------------------------------------------- §7.1 errors, §10.1 health

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    /// Always `true`.
    pub error: bool,
    pub message: String,
    pub timestamp: DateTime<Utc>,
    /// *(kasir)* Per-field messages of a 422.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<BTreeMap<String, Vec<String>>>,
    /// Only when debug is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

impl ErrorBody {
    pub fn new(message: impl Into<String>, timestamp: DateTime<Utc>) -> Self {
        ErrorBody {
            error: true,
            message: message.into(),
            timestamp,
            errors: None,
            trace: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(example = crate::api_schema::examples::health())]
pub struct HealthResponse {
    /// `healthy` or `unhealthy`.
    pub status: String,
    pub checks: BTreeMap<String, HealthCheck>,
    pub timestamp: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HealthCheck {
    /// `ok` or `error`.
    pub status: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{SaleLine, SalePayment};
    use crate::txn_number::{LaneNo, TxnNumber};
    use rust_decimal_macros::dec;
    use uuid::Uuid;

    fn sale() -> Sale {
        let store = StoreCode::new("JKT01").unwrap();
        let lane = LaneNo::new(3).unwrap();
        let line = |n: u16, sku: &str, q: Decimal| SaleLine {
            line_no: n,
            sku: sku.into(),
            name: sku.into(),
            quantity: q,
            unit_price: dec!(1000),
            discount_amount: Decimal::ZERO,
            total_price: dec!(1000) * q,
            transaction_discount_share: Decimal::ZERO,
            tax_amount: Decimal::ZERO,
            amount_due: dec!(1000) * q,
            price_override_by: None,
        };
        Sale {
            id: SaleId(Uuid::now_v7()),
            number: TxnNumber::new(store.clone(), lane, 42).unwrap(),
            store,
            lane,
            shift: None,
            cashier_id: 7,
            customer: Some(CustomerId(Uuid::now_v7())),
            created_at: DateTime::parse_from_rfc3339("2026-11-24T03:00:00Z")
                .unwrap()
                .to_utc(),
            // Line numbers need not be positions (a voided line leaves a gap).
            lines: vec![line(1, "A", dec!(2)), line(3, "B", dec!(0.5))],
            payments: vec![SalePayment {
                method: PaymentMethod::Cash,
                amount: dec!(2500),
                reference: None,
            }],
            payment_method: TransactionPaymentMethod::Cash,
            subtotal: dec!(2500),
            discount_amount: Decimal::ZERO,
            tax_amount: Decimal::ZERO,
            total_amount: dec!(2500),
            cash_tendered: dec!(2500),
            change_amount: Decimal::ZERO,
            rounding_amount: Decimal::ZERO,
            loyalty_points_earned: 2,
            loyalty_points_redeemed: 1,
            notes: None,
        }
    }

    #[test]
    fn a_sale_without_its_own_id_is_keyed_by_store_and_number() {
        let s = sale();
        let mut upload = UploadTransaction::from(&s);
        assert_eq!(upload.id(&s.store), s.id);
        upload.sale_id = None;
        let by_number = upload.id(&s.store);
        assert_eq!(
            by_number,
            sale_id_by_number(&s.store, &s.number.to_string())
        );
        assert_ne!(by_number, s.id);
        let other = StoreCode::new("JKT02").unwrap();
        assert_ne!(upload.id(&other), by_number);
        let mut next = upload.clone();
        next.transaction_number = s.number.next().unwrap().to_string();
        assert_ne!(next.id(&s.store), by_number);
    }

    #[test]
    fn hq_derives_the_same_movements_and_entries_as_the_lanes() {
        let s = sale();
        let upload = UploadTransaction::from(&s);
        assert_eq!(upload.effects(&s.store), s.effects());
        // Also after the JSON round trip HQ actually receives.
        let json = serde_json::to_string(&upload).unwrap();
        let back: UploadTransaction = serde_json::from_str(&json).unwrap();
        assert_eq!(back.effects(&s.store), s.effects());
    }
}
