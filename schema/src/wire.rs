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
use serde::{Deserialize, Serialize};

use crate::domain::{
    CustomerId, LoyaltyEntryId, LoyaltyKind, MovementId, MovementType, ReferenceType, SaleId,
};
use crate::payment::{PaymentMethod, TransactionPaymentMethod};
use crate::roles::Role;

// ---------------------------------------------------------------- §3.1 authentication

/// `POST /api/auth/login`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// The store code a store user logs in to; HQ users may leave it out.
    #[serde(default)]
    pub store_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthUser {
    pub id: u64,
    pub username: String,
    pub full_name: String,
    pub role: Role,
    pub store_id: Option<u64>,
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    /// *(kasir)* The next refresh token; the one just used is spent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// `POST /api/auth/logout`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageResponse {
    pub message: String,
}

// ---------------------------------------------------------------- §3.2 synchronization

/// Query of `GET /api/sync/download/{store_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncDownloadQuery {
    pub last_sync: Option<DateTime<Utc>>,
    pub tables: Option<Vec<String>>,
}

/// Tables `tables=` may name.
pub const DOWNLOAD_TABLES: [&str; 5] = [
    "products",
    "categories",
    "customers",
    "settings",
    "stock_movements",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncDownloadResponse {
    pub success: bool,
    pub data: SyncDownloadData,
    pub last_sync: DateTime<Utc>,
}

/// Each table is present when asked for (all by default).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadProduct {
    pub id: u64,
    pub barcode: Option<String>,
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub category_id: Option<u64>,
    pub unit: String,
    pub cost_price: Decimal,
    pub selling_price: Decimal,
    pub stock_quantity: Decimal,
    pub min_stock: Decimal,
    pub max_stock: Decimal,
    pub is_active: bool,
    pub is_available: bool,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadCategory {
    pub id: u64,
    pub name: String,
    pub description: Option<String>,
    pub parent_id: Option<u64>,
    pub sort_order: i32,
    pub is_active: bool,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    pub total_purchases: Decimal,
    pub is_active: bool,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreSettings {
    pub store_id: u64,
    pub store_code: String,
    pub store_name: String,
    pub address: Option<String>,
    pub tax_rate: Decimal,
    pub tax_inclusive: bool,
    pub currency: String,
    pub timezone: String,
    pub cash_rounding: Decimal,
}

/// `POST /api/sync/upload`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncUploadRequest {
    /// The store code.
    pub store_id: String,
    pub data: SyncUploadData,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncUploadData {
    #[serde(default)]
    pub transactions: Vec<UploadTransaction>,
    #[serde(default)]
    pub customers: Vec<UploadCustomer>,
    #[serde(default)]
    pub stock_movements: Vec<StockMovementRecord>,
    /// *(kasir)* Loyalty ledger entries (earn, redeem, reverse), each with its own id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loyalty_entries: Vec<LoyaltyEntryRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Paid,
    Failed,
    Refunded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenderStatus {
    Pending,
    #[default]
    Success,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadTransaction {
    /// *(kasir)* The sale's own id: HQ stores each sale once per id.
    pub sale_id: SaleId,
    #[serde(default)]
    pub local_id: Option<i64>,
    pub transaction_number: String,
    /// *(kasir)* Customers are keyed by uuid because lanes create them offline.
    #[serde(default)]
    pub customer_uuid: Option<CustomerId>,
    pub cashier_id: u64,
    pub transaction_date: DateTime<Utc>,
    pub subtotal: Decimal,
    pub tax_amount: Decimal,
    pub discount_amount: Decimal,
    pub total_amount: Decimal,
    pub payment_method: TransactionPaymentMethod,
    pub payment_status: PaymentStatus,
    #[serde(default)]
    pub notes: Option<String>,
    /// *(kasir)* Cash handed back and cash rounding (what the store kept minus the total).
    #[serde(default)]
    pub change_amount: Decimal,
    #[serde(default)]
    pub rounding_amount: Decimal,
    pub details: Vec<UploadTransactionDetail>,
    pub payments: Vec<UploadPaymentDetail>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadTransactionDetail {
    #[serde(default)]
    pub product_id: Option<u64>,
    pub sku: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    #[serde(default)]
    pub discount_amount: Decimal,
    pub total_price: Decimal,
    /// *(kasir)* The line's share of the transaction tax.
    #[serde(default)]
    pub tax_amount: Decimal,
    #[serde(default)]
    pub notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadPaymentDetail {
    pub payment_method: PaymentMethod,
    pub amount: Decimal,
    /// An approval code or transfer reference; never a card number.
    #[serde(default)]
    pub reference_number: Option<String>,
    #[serde(default)]
    pub payment_status: TenderStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

fn default_true() -> bool {
    true
}

/// A stock movement, up or down the wire. `quantity` is signed (what it adds to stock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockMovementRecord {
    /// *(kasir)* The movement's own id: each is counted once, wherever it is applied.
    pub movement_id: MovementId,
    #[serde(default)]
    pub product_id: Option<u64>,
    pub sku: String,
    pub movement_type: MovementType,
    pub quantity: Decimal,
    pub reference_type: ReferenceType,
    #[serde(default)]
    pub sale_id: Option<SaleId>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub created_by: Option<u64>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncUploadResponse {
    pub success: bool,
    pub processed: Processed,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Processed {
    pub transactions: ProcessedCounts,
    pub customers: ProcessedCounts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_movements: Option<ProcessedCounts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loyalty_entries: Option<ProcessedCounts>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProcessedCounts {
    pub success: u32,
    pub failed: u32,
    pub errors: Vec<RecordError>,
    /// *(kasir)* One result per record, in request order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<RecordResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordError {
    /// The record's own id (sale id, movement id, customer uuid).
    pub id: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordResult {
    pub id: String,
    pub status: RecordStatus,
}

/// `GET /api/sync/status/{store_id}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatusResponse {
    pub last_sync: Option<DateTime<Utc>>,
    pub pending_uploads: u64,
    pub sync_errors: Vec<SyncErrorEntry>,
    pub status: SyncState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncErrorEntry {
    pub table_name: String,
    pub message: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    UpToDate,
    Pending,
    Error,
    NeverSynced,
}

// ---------------------------------------------------------------- §3.3 products

/// Query of `GET /api/products`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductsQuery {
    pub store_id: u64,
    pub category_id: Option<u64>,
    pub search: Option<String>,
    #[serde(default = "default_per_page")]
    pub per_page: u32,
    #[serde(default = "default_page")]
    pub page: u32,
}

fn default_per_page() -> u32 {
    50
}

fn default_page() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductListResponse {
    pub data: Vec<ProductListItem>,
    pub meta: PageMeta,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductListItem {
    pub id: u64,
    pub barcode: Option<String>,
    pub sku: String,
    pub name: String,
    pub category: Option<CategoryRef>,
    pub selling_price: Decimal,
    pub stock_quantity: Decimal,
    pub is_available: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryRef {
    pub id: u64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageMeta {
    pub current_page: u32,
    pub total: u64,
    pub per_page: u32,
}

/// `PUT /api/products/{id}/stock`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockUpdateRequest {
    pub store_id: u64,
    pub quantity: Decimal,
    pub movement_type: MovementType,
    #[serde(default)]
    pub notes: Option<String>,
    /// *(kasir)* A client-chosen id that makes a retried request count once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub movement_id: Option<MovementId>,
}

/// `GET /api/products/barcode/{barcode}` and the reply to a stock update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductResponse {
    pub data: ProductListItem,
}

// ---------------------------------------------------------------- §7.1 errors, §10.1 health

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthResponse {
    /// `healthy` or `unhealthy`.
    pub status: String,
    pub checks: BTreeMap<String, HealthCheck>,
    pub timestamp: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// `ok` or `error`.
    pub status: String,
    pub message: String,
}
