//! The transactions query and analytics for HQ roles (`Access::Analytics`): sales by store, day
//! or hour, the payment-method mix, top products, low stock across stores. Times are UTC; a
//! store-scoped role sees its own store only (`store_id` is then required).

use axum::extract::State;
use chrono::{DateTime, Utc};
use kasir_schema::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::AppState;
use crate::auth::Principal;
use crate::db::{to_i64, to_u64};
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::on_db;

/// A query whose first four parameters are `from`, `to` and the store filter (twice).
macro_rules! in_range {
    ($B:ident, $sql:expr, $from:expr, $to:expr, $store:expr) => {
        sqlx::query($sql)
            .bind($B::time($from))
            .bind($B::time($to))
            .bind($store)
            .bind($store)
    };
}

/// The store a request may look at: its own for a store-scoped role, else the one asked for
/// (or all).
pub(crate) fn scope(principal: &Principal, asked: Option<u64>) -> ApiResult<Option<u64>> {
    match (principal.scope(), asked) {
        (Some(own), Some(s)) if s != own => Err(ApiError::forbidden(
            "This credential belongs to another store",
        )),
        (Some(own), _) => Ok(Some(own)),
        (None, s) => Ok(s),
    }
}

pub(crate) fn range(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> ApiResult<(DateTime<Utc>, DateTime<Utc>)> {
    let to = to.unwrap_or_else(Utc::now);
    let from = from.unwrap_or(to - chrono::Duration::days(30));
    if from > to {
        return Err(ApiError::field("from", "must not be after to"));
    }
    if to - from > chrono::Duration::days(3660) {
        return Err(ApiError::field(
            "from",
            "the range may span at most ten years",
        ));
    }
    Ok((from, to))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransactionsQuery {
    #[schemars(example = 1)]
    pub store_id: Option<u64>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub cashier_id: Option<u64>,
    #[schemars(length(max = 100))]
    pub number: Option<String>,
    #[serde(default = "fifty")]
    #[schemars(range(min = 1, max = 200))]
    pub per_page: u32,
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub page: u32,
}

pub(crate) fn fifty() -> u32 {
    50
}

pub(crate) fn one() -> u32 {
    1
}

/// The offset of a page (`page` from 1, `per_page` from 1 to 200), or the field that is out of
/// range.
pub(crate) fn page_offset(page: u32, per_page: u32) -> ApiResult<i64> {
    if !(1..=200).contains(&per_page) {
        return Err(ApiError::field("per_page", "must be between 1 and 200"));
    }
    if page == 0 || page > 1_000_000 {
        return Err(ApiError::field("page", "must be between 1 and 1000000"));
    }
    Ok(i64::from(page - 1) * i64::from(per_page))
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TransactionRow {
    pub id: u64,
    pub store_id: u64,
    pub sale_id: String,
    pub transaction_number: String,
    pub cashier_id: u64,
    pub lane_no: Option<i64>,
    pub transaction_date: DateTime<Utc>,
    #[schemars(schema_with = "kasir_schema::api_schema::number")]
    pub total_amount: Decimal,
    #[schemars(schema_with = "kasir_schema::api_schema::number")]
    pub tax_amount: Decimal,
    pub payment_method: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub meta: kasir_schema::wire::PageMeta,
}

/// `GET /api/transactions?store_id=&from=&to=&cashier_id=&number=&page=&per_page=`
pub async fn transactions(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<TransactionsQuery>,
) -> ApiResult<axum::Json<Page<TransactionRow>>> {
    let store = scope(&principal, q.store_id)?;
    let (from, to) = range(q.from, q.to)?;
    let offset = page_offset(q.page, q.per_page)?;
    if q.number.as_ref().is_some_and(|n| n.len() > 100) {
        return Err(ApiError::field("number", "must be at most 100 characters"));
    }
    let filter = "FROM transactions WHERE transaction_date >= ? AND transaction_date <= ?
        AND (? IS NULL OR store_id = ?) AND (? IS NULL OR cashier_id = ?) AND (? IS NULL OR transaction_number = ?)";
    let store = store.map(to_i64);
    let cashier = q.cashier_id.map(to_i64);
    let (total, data) = on_db!(&state.db, |pool, B| {
        let total: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) {filter}")))
                .bind(B::time(from))
                .bind(B::time(to))
                .bind(store)
                .bind(store)
                .bind(cashier)
                .bind(cashier)
                .bind(&q.number)
                .bind(&q.number)
                .fetch_one(pool)
                .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, store_id, sale_id, transaction_number, cashier_id, lane_no, transaction_date,
                total_amount, tax_amount, payment_method {filter}
             ORDER BY transaction_date DESC, id DESC LIMIT ? OFFSET ?"
        )))
        .bind(B::time(from))
        .bind(B::time(to))
        .bind(store)
        .bind(store)
        .bind(cashier)
        .bind(cashier)
        .bind(&q.number)
        .bind(&q.number)
        .bind(i64::from(q.per_page))
        .bind(offset)
        .fetch_all(pool)
        .await?;
        let mut data = Vec::with_capacity(rows.len());
        for r in &rows {
            data.push(TransactionRow {
                id: to_u64(B::int(r, "id")?),
                store_id: to_u64(B::int(r, "store_id")?),
                sale_id: r.try_get("sale_id")?,
                transaction_number: r.try_get("transaction_number")?,
                cashier_id: to_u64(B::int(r, "cashier_id")?),
                lane_no: B::opt_int(r, "lane_no")?,
                transaction_date: r.try_get("transaction_date")?,
                total_amount: B::get_money(r, "total_amount")?,
                tax_amount: B::get_money(r, "tax_amount")?,
                payment_method: r.try_get("payment_method")?,
            });
        }
        (total, data)
    });
    Ok(axum::Json(Page {
        data,
        meta: kasir_schema::wire::PageMeta {
            current_page: q.page,
            total: to_u64(total),
            per_page: q.per_page,
        },
    }))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SalesQuery {
    #[schemars(example = 1)]
    pub store_id: Option<u64>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// `day` (default), `hour` or `store`.
    #[serde(default)]
    pub group: Group,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    #[default]
    Day,
    Hour,
    Store,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SalesBucket {
    /// `2026-11-24`, `2026-11-24T03` (UTC) or the store code.
    pub key: String,
    pub transactions: i64,
    #[schemars(schema_with = "kasir_schema::api_schema::number")]
    pub total_amount: Decimal,
    #[schemars(schema_with = "kasir_schema::api_schema::number")]
    pub tax_amount: Decimal,
}

/// `GET /api/analytics/sales?store_id=&from=&to=&group=day|hour|store`
pub async fn sales(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<SalesQuery>,
) -> ApiResult<axum::Json<Vec<SalesBucket>>> {
    let store = scope(&principal, q.store_id)?.map(to_i64);
    let (from, to) = range(q.from, q.to)?;
    let out = on_db!(&state.db, |pool, B| {
        let key = match (q.group, B::IS_MYSQL) {
            (Group::Day, true) => "DATE_FORMAT(t.transaction_date, '%Y-%m-%d')",
            (Group::Hour, true) => "DATE_FORMAT(t.transaction_date, '%Y-%m-%dT%H')",
            (Group::Day, false) => "substr(t.transaction_date, 1, 10)",
            (Group::Hour, false) => "substr(t.transaction_date, 1, 13)",
            (Group::Store, _) => "s.store_code",
        };
        let sql = format!(
            "SELECT {key} AS k, COUNT(*) AS n, SUM(t.total_amount) AS total, SUM(t.tax_amount) AS tax
             FROM transactions t JOIN stores s ON s.id = t.store_id
             WHERE t.transaction_date >= ? AND t.transaction_date <= ? AND (? IS NULL OR t.store_id = ?)
             GROUP BY {key} ORDER BY {key}"
        );
        let rows = in_range!(B, sqlx::AssertSqlSafe(sql), from, to, store)
            .fetch_all(pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(SalesBucket {
                key: r.try_get("k")?,
                transactions: B::int(r, "n")?,
                total_amount: B::get_money(r, "total")?,
                tax_amount: B::get_money(r, "tax")?,
            });
        }
        out
    });
    Ok(axum::Json(out))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    #[schemars(example = 1)]
    pub store_id: Option<u64>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    #[serde(default = "ten")]
    #[schemars(range(min = 1, max = 500))]
    pub limit: u32,
}

fn ten() -> u32 {
    10
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct MethodShare {
    pub payment_method: String,
    pub payments: i64,
    #[schemars(schema_with = "kasir_schema::api_schema::number")]
    pub amount: Decimal,
}

/// `GET /api/analytics/payment-methods?store_id=&from=&to=`: the tender mix.
pub async fn payment_methods(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<RangeQuery>,
) -> ApiResult<axum::Json<Vec<MethodShare>>> {
    if !(1..=500).contains(&q.limit) {
        return Err(ApiError::field("limit", "must be between 1 and 500"));
    }
    let store = scope(&principal, q.store_id)?.map(to_i64);
    let (from, to) = range(q.from, q.to)?;
    let out = on_db!(&state.db, |pool, B| {
        let rows = in_range!(
            B,
            "SELECT p.payment_method AS m, COUNT(*) AS n, SUM(p.amount) AS amount
             FROM payment_details p JOIN transactions t ON t.id = p.transaction_id
             WHERE t.transaction_date >= ? AND t.transaction_date <= ? AND (? IS NULL OR t.store_id = ?)
             GROUP BY p.payment_method ORDER BY amount DESC",
            from,
            to,
            store
        )
        .fetch_all(pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(MethodShare {
                payment_method: r.try_get("m")?,
                payments: B::int(r, "n")?,
                amount: B::get_money(r, "amount")?,
            });
        }
        out
    });
    Ok(axum::Json(out))
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TopProduct {
    pub product_id: u64,
    pub sku: String,
    pub name: String,
    #[schemars(schema_with = "kasir_schema::api_schema::number")]
    pub quantity: Decimal,
    #[schemars(schema_with = "kasir_schema::api_schema::number")]
    pub revenue: Decimal,
}

/// `GET /api/analytics/top-products?store_id=&from=&to=&limit=`: by revenue.
pub async fn top_products(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<RangeQuery>,
) -> ApiResult<axum::Json<Vec<TopProduct>>> {
    let store = scope(&principal, q.store_id)?.map(to_i64);
    let (from, to) = range(q.from, q.to)?;
    if !(1..=500).contains(&q.limit) {
        return Err(ApiError::field("limit", "must be between 1 and 500"));
    }
    let out = on_db!(&state.db, |pool, B| {
        let rows = in_range!(
            B,
            "SELECT d.product_id AS pid, p.sku, p.name, SUM(d.quantity) AS qty, SUM(d.total_price) AS revenue
             FROM transaction_details d JOIN transactions t ON t.id = d.transaction_id
             JOIN products p ON p.id = d.product_id
             WHERE t.transaction_date >= ? AND t.transaction_date <= ? AND (? IS NULL OR t.store_id = ?)
             GROUP BY d.product_id, p.sku, p.name ORDER BY revenue DESC, p.sku LIMIT ?",
            from,
            to,
            store
        )
        .bind(i64::from(q.limit))
        .fetch_all(pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(TopProduct {
                product_id: to_u64(B::int(r, "pid")?),
                sku: r.try_get("sku")?,
                name: r.try_get("name")?,
                quantity: B::get_qty(r, "qty")?,
                revenue: B::get_money(r, "revenue")?,
            });
        }
        out
    });
    Ok(axum::Json(out))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LowStockQuery {
    #[schemars(example = 1)]
    pub store_id: Option<u64>,
    #[serde(default = "hundred")]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: u32,
}

fn hundred() -> u32 {
    100
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct LowStock {
    pub store_id: u64,
    pub store_code: String,
    pub product_id: u64,
    pub sku: String,
    pub name: String,
    #[schemars(schema_with = "kasir_schema::api_schema::number")]
    pub stock_quantity: Decimal,
    #[schemars(schema_with = "kasir_schema::api_schema::number")]
    pub min_stock: Decimal,
}

/// `GET /api/analytics/low-stock?store_id=&limit=`: products at or below their store's
/// minimum, across the stores the caller may see, lowest first.
pub async fn low_stock(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<LowStockQuery>,
) -> ApiResult<axum::Json<Vec<LowStock>>> {
    let store = scope(&principal, q.store_id)?.map(to_i64);
    if !(1..=1000).contains(&q.limit) {
        return Err(ApiError::field("limit", "must be between 1 and 1000"));
    }
    let out = on_db!(&state.db, |pool, B| {
        let rows = sqlx::query(
            "SELECT sp.store_id, s.store_code, sp.product_id, p.sku, p.name, sp.stock_quantity, sp.min_stock
             FROM store_products sp JOIN products p ON p.id = sp.product_id JOIN stores s ON s.id = sp.store_id
             WHERE sp.stock_quantity <= sp.min_stock AND p.is_active = 1 AND (? IS NULL OR sp.store_id = ?)
             ORDER BY sp.stock_quantity - sp.min_stock, sp.store_id, p.sku LIMIT ?",
        )
        .bind(store)
        .bind(store)
        .bind(i64::from(q.limit))
        .fetch_all(pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(LowStock {
                store_id: to_u64(B::int(r, "store_id")?),
                store_code: r.try_get("store_code")?,
                product_id: to_u64(B::int(r, "product_id")?),
                sku: r.try_get("sku")?,
                name: r.try_get("name")?,
                stock_quantity: B::get_qty(r, "stock_quantity")?,
                min_stock: B::get_qty(r, "min_stock")?,
            });
        }
        out
    });
    Ok(axum::Json(out))
}
