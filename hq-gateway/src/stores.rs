//! Stores, devices and the §3.3 product endpoints (a store's view of the catalog: HQ product,
//! store price and stock).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use kasir_schema::Decimal;
use kasir_schema::domain::MovementType;
use kasir_schema::wire::{
    CategoryRef, PageMeta, ProductListItem, ProductListResponse, ProductResponse, ProductsQuery,
    StockUpdateRequest,
};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::AppState;
use crate::auth::{Access, LastInsertId, Principal};
use crate::db::Db;
use crate::db::{to_i64, to_u64};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Query, parse_id, text};
use crate::fields::{nullable, opt_text};
use crate::on_db;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreRef {
    pub id: u64,
    pub code: String,
}

/// A store named by its numeric id or its code (the seed uses both), if it is open.
pub async fn resolve_store(db: &Db, raw: &str) -> ApiResult<StoreRef> {
    find_store(db, raw, true).await
}

/// [`resolve_store`], closed stores too (master data).
pub async fn resolve_store_any(db: &Db, raw: &str) -> ApiResult<StoreRef> {
    find_store(db, raw, false).await
}

/// A path that is all digits is an id (new codes must have a letter; a store whose older
/// all-digit code equals another's id is found by the id); anything else is a code, compared
/// without regard to case like the unique key that keeps codes apart.
async fn find_store(db: &Db, raw: &str, active_only: bool) -> ApiResult<StoreRef> {
    if raw.is_empty() || raw.len() > 50 {
        return Err(ApiError::not_found(format!("store {raw:?}")));
    }
    let id = raw.parse::<u64>().ok();
    let row = on_db!(db, |pool, B| {
        let sql = if B::IS_MYSQL {
            "SELECT id, store_code FROM stores WHERE (id = ? OR store_code = ?) AND (is_active = 1 OR ? = 0)
             ORDER BY id = ? DESC LIMIT 1"
        } else {
            "SELECT id, store_code FROM stores WHERE (id = ? OR store_code = ? COLLATE NOCASE) AND (is_active = 1 OR ? = 0)
             ORDER BY id = ? DESC LIMIT 1"
        };
        let id = id.map_or(-1, to_i64);
        let r = sqlx::query(sql)
            .bind(id)
            .bind(raw)
            .bind(active_only)
            .bind(id)
            .fetch_optional(pool)
            .await?;
        match r {
            Some(r) => Some((B::int(&r, "id")?, r.try_get::<String, _>("store_code")?)),
            None => None,
        }
    });
    row.map(|(id, code)| StoreRef {
        id: to_u64(id),
        code,
    })
    .ok_or_else(|| ApiError::not_found(format!("store {raw:?}")))
}

const ITEM_COLUMNS: &str = "p.id, p.barcode, p.sku, p.name, p.category_id, c.name AS category_name,
    sp.selling_price, sp.stock_quantity, sp.is_available, sp.min_stock, sp.max_stock, sp.location,
    sp.last_restocked";

macro_rules! item_from_row {
    ($B:ident, $r:expr) => {{
        let r = $r;
        let category_id = B::opt_int(&r, "category_id")?;
        let category_name: Option<String> = r.try_get("category_name")?;
        ProductListItem {
            id: to_u64(B::int(&r, "id")?),
            barcode: r.try_get("barcode")?,
            sku: r.try_get("sku")?,
            name: r.try_get("name")?,
            category: category_id
                .zip(category_name)
                .map(|(id, name)| CategoryRef {
                    id: to_u64(id),
                    name,
                }),
            selling_price: $B::get_money(r, "selling_price")?,
            stock_quantity: $B::get_qty(r, "stock_quantity")?,
            is_available: B::int(&r, "is_available")? != 0,
            min_stock: $B::get_qty(r, "min_stock")?,
            max_stock: $B::get_qty(r, "max_stock")?,
            location: r.try_get("location")?,
            last_restocked: r.try_get("last_restocked")?,
        }
    }};
}

/// One product as a store sees it, inside a transaction.
macro_rules! fetch_item {
    ($B:ident, $tx:ident, $store:expr, $product:expr) => {{
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM products p
             JOIN store_products sp ON sp.product_id = p.id AND sp.store_id = ?
             LEFT JOIN categories c ON c.id = p.category_id WHERE p.id = ?"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(to_i64($store))
            .bind(to_i64($product))
            .fetch_one(&mut *$tx)
            .await?;
        item_from_row!($B, &row)
    }};
}

/// `GET /api/products/barcode/{barcode}?store_id=`
pub async fn product_by_barcode(
    State(state): State<AppState>,
    principal: Principal,
    Path(barcode): Path<String>,
    Query(q): Query<StoreQuery>,
) -> ApiResult<axum::Json<ProductResponse>> {
    principal.require(Access::ReadCatalog)?;
    principal.require_store(q.store_id)?;
    if barcode.is_empty() || barcode.len() > 255 {
        return Err(ApiError::not_found("product"));
    }
    let item = if let Some(hit) = state.lookups.get(q.store_id, &barcode) {
        hit
    } else {
        let seen = state.lookups.tick();
        let item = lookup_barcode(&state.db, q.store_id, &barcode).await?;
        state.lookups.put(q.store_id, &barcode, seen, item.clone());
        item
    };
    item.map(|data| axum::Json(ProductResponse { data }))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "product with barcode {barcode:?} in store {}",
                q.store_id
            ))
        })
}

async fn lookup_barcode(db: &Db, store: u64, barcode: &str) -> ApiResult<Option<ProductListItem>> {
    Ok(on_db!(db, |pool, B| {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM products p
             JOIN store_products sp ON sp.product_id = p.id AND sp.store_id = ?
             LEFT JOIN categories c ON c.id = p.category_id
             WHERE p.barcode = ? AND p.is_active = 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(to_i64(store))
            .bind(barcode)
            .fetch_optional(pool)
            .await?;
        match row {
            Some(r) => Some(item_from_row!(B, &r)),
            None => None,
        }
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreQuery {
    pub store_id: u64,
}

/// `GET /api/products?store_id=&category_id=&search=&per_page=&page=`
pub async fn list_products(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ProductsQuery>,
) -> ApiResult<axum::Json<ProductListResponse>> {
    principal.require(Access::ReadCatalog)?;
    principal.require_store(q.store_id)?;
    if !(1..=200).contains(&q.per_page) {
        return Err(ApiError::field("per_page", "must be between 1 and 200"));
    }
    if q.page == 0 || q.page > 1_000_000 {
        return Err(ApiError::field("page", "must be between 1 and 1000000"));
    }
    let search = q
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.chars().count() > 100 {
                Err(ApiError::field("search", "must be at most 100 characters"))
            } else {
                // LIKE metacharacters are matched literally.
                let esc = s
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                Ok(format!("%{esc}%"))
            }
        })
        .transpose()?;
    let offset = i64::from(q.page - 1) * i64::from(q.per_page);
    let filter = "FROM products p JOIN store_products sp ON sp.product_id = p.id AND sp.store_id = ?
         LEFT JOIN categories c ON c.id = p.category_id
         WHERE p.is_active = 1 AND (? IS NULL OR p.category_id = ?)
           AND (? IS NULL OR p.name LIKE ? ESCAPE '\\\\' OR p.sku LIKE ? ESCAPE '\\\\' OR p.barcode = ?)";
    let filter_lite = "FROM products p JOIN store_products sp ON sp.product_id = p.id AND sp.store_id = ?
         LEFT JOIN categories c ON c.id = p.category_id
         WHERE p.is_active = 1 AND (? IS NULL OR p.category_id = ?)
           AND (? IS NULL OR p.name LIKE ? ESCAPE '\\' OR p.sku LIKE ? ESCAPE '\\' OR p.barcode = ?)";
    let cat = q.category_id.map(to_i64);
    let raw_search = q.search.clone();
    let (total, data) = on_db!(&state.db, |pool, B| {
        let f = if B::IS_MYSQL { filter } else { filter_lite };
        let count_sql = format!("SELECT COUNT(*) {f}");
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql))
            .bind(to_i64(q.store_id))
            .bind(cat)
            .bind(cat)
            .bind(&search)
            .bind(&search)
            .bind(&search)
            .bind(&raw_search)
            .fetch_one(pool)
            .await?;
        let page_sql = format!("SELECT {ITEM_COLUMNS} {f} ORDER BY p.name, p.id LIMIT ? OFFSET ?");
        let rows = sqlx::query(sqlx::AssertSqlSafe(page_sql))
            .bind(to_i64(q.store_id))
            .bind(cat)
            .bind(cat)
            .bind(&search)
            .bind(&search)
            .bind(&search)
            .bind(&raw_search)
            .bind(i64::from(q.per_page))
            .bind(offset)
            .fetch_all(pool)
            .await?;
        let mut data = Vec::with_capacity(rows.len());
        for r in &rows {
            data.push(item_from_row!(B, r));
        }
        (total, data)
    });
    Ok(axum::Json(ProductListResponse {
        data,
        meta: PageMeta {
            current_page: q.page,
            total: to_u64(total),
            per_page: q.per_page,
        },
    }))
}

/// Records an HQ stock movement of a store's product in the open transaction `$tx`: counted
/// once by its id (a retried request with the same id and content is a no-op, different content
/// a conflict), the store's stock moved, `stock.low` queued when it crosses the minimum, the
/// movement queued for the store's download, audited.
macro_rules! hq_movement {
    ($B:ident, $tx:ident, $state:expr, $store:expr, $product:expr, $id:expr, $kind:expr, $reference:expr,
     $signed:expr, $notes:expr, $user:expr, $now:expr) => {{
        let (store, product, id, signed): (u64, u64, &str, Decimal) = ($store, $product, $id, $signed);
        let insert = if $B::IS_MYSQL {
            "INSERT IGNORE INTO stock_movements (movement_id, store_id, product_id, movement_type, quantity,
                reference_type, notes, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        } else {
            "INSERT OR IGNORE INTO stock_movements (movement_id, store_id, product_id, movement_type, quantity,
                reference_type, notes, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        };
        let inserted = sqlx::query(insert)
            .bind(id)
            .bind(to_i64(store))
            .bind(to_i64(product))
            .bind($kind)
            .bind($B::qty(signed)?)
            .bind($reference)
            .bind($notes)
            .bind($user)
            .bind($now)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
        if inserted == 1 {
            sqlx::query(
                "UPDATE store_products SET stock_quantity = stock_quantity + ?, updated_at = ?
                 WHERE store_id = ? AND product_id = ?",
            )
            .bind($B::qty(signed)?)
            .bind($now)
            .bind(to_i64(store))
            .bind(to_i64(product))
            .execute(&mut *$tx)
            .await?;
            let row = sqlx::query(
                "SELECT sp.stock_quantity, sp.min_stock, p.sku FROM store_products sp
                 JOIN products p ON p.id = sp.product_id WHERE sp.store_id = ? AND sp.product_id = ?",
            )
            .bind(to_i64(store))
            .bind(to_i64(product))
            .fetch_one(&mut *$tx)
            .await?;
            let (after, min) = ($B::get_qty(&row, "stock_quantity")?, $B::get_qty(&row, "min_stock")?);
            if after <= min && after - signed > min {
                let sku: String = row.try_get("sku")?;
                let data = serde_json::json!({
                    "store_id": store, "product_id": product, "sku": sku,
                    "stock_quantity": after, "min_stock": min
                });
                crate::webhooks::enqueue!($B, &mut *$tx, "stock.low", data);
            }
            sqlx::query(
                "INSERT INTO hq_stock_movements (movement_id, store_id, created_at) VALUES (?, ?, ?)",
            )
            .bind(id)
            .bind(to_i64(store))
            .bind($now)
            .execute(&mut *$tx)
            .await?;
            crate::lookups::bump!($B, &mut *$tx, crate::lookups::store_scope(store), $state.lookups);
            crate::audit::write(
                &mut *$tx,
                $user,
                Some(to_i64(store)),
                "stock.adjust",
                "stock_movements",
                Some(to_i64(product)),
                serde_json::json!({ "movement_id": id, "quantity": signed.to_string(), "type": $kind }),
            )
            .await?;
        } else {
            // A retried request: the same id must mean the same movement.
            let row = sqlx::query(
                "SELECT store_id, product_id, quantity FROM stock_movements WHERE movement_id = ?",
            )
            .bind(id)
            .fetch_one(&mut *$tx)
            .await?;
            let same = $B::int(&row, "store_id")? == to_i64(store)
                && $B::int(&row, "product_id")? == to_i64(product)
                && $B::get_qty(&row, "quantity")? == signed.normalize();
            if !same {
                return Err(ApiError::conflict(format!(
                    "movement {id} already exists with different content"
                )));
            }
        }
    }};
}

/// `PUT /api/products/{id}/stock`: an HQ stock movement for one store. `quantity` is the
/// number of units that come in (`in`) or go out (`out`, `transfer`), or the signed change
/// (`adjustment`). The movement gets its own id (`movement_id`, chosen by the client to make
/// retries count once, or by the gateway); the store downloads it and applies it once.
pub async fn update_stock(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(req): Json<StockUpdateRequest>,
) -> ApiResult<axum::Json<ProductResponse>> {
    principal.require(Access::AdjustStock)?;
    principal.require_store(req.store_id)?;
    let product_id = parse_id(&id, "product")?;
    let signed = match req.movement_type {
        MovementType::In if req.quantity > Decimal::ZERO => req.quantity,
        MovementType::Out | MovementType::Transfer if req.quantity > Decimal::ZERO => -req.quantity,
        MovementType::Adjustment if !req.quantity.is_zero() => req.quantity,
        MovementType::Adjustment => {
            return Err(ApiError::field(
                "quantity",
                "an adjustment must change the stock",
            ));
        }
        _ => return Err(ApiError::field("quantity", "must be greater than 0")),
    };
    crate::db::check_qty(signed).map_err(|e| ApiError::field("quantity", e.message))?;
    if req.notes.as_ref().is_some_and(|n| n.chars().count() > 1000) {
        return Err(ApiError::field("notes", "must be at most 1000 characters"));
    }
    let movement_id = req
        .movement_id
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), |m| m.0.to_string());
    let now = Utc::now();
    let user = principal.user_id().map(to_i64);
    let kind = req.movement_type.as_str();
    let reference = match req.movement_type {
        MovementType::In => "purchase",
        MovementType::Transfer => "transfer",
        _ => "adjustment",
    };
    let item = crate::error::retry(|| async {
        on_db!(&state.db, |pool, B| {
            let mut tx = pool.begin().await?;
            let exists: Option<i64> = sqlx::query_scalar(
                "SELECT COUNT(*) FROM store_products sp JOIN products p ON p.id = sp.product_id
                 WHERE sp.store_id = ? AND sp.product_id = ? AND p.is_active = 1",
            )
            .bind(to_i64(req.store_id))
            .bind(to_i64(product_id))
            .fetch_optional(&mut *tx)
            .await?;
            if exists.unwrap_or(0) == 0 {
                return Err(ApiError::not_found(format!(
                    "product {product_id} in store {}",
                    req.store_id
                )));
            }
            hq_movement!(
                B,
                tx,
                state,
                req.store_id,
                product_id,
                &movement_id,
                kind,
                reference,
                signed,
                &req.notes,
                user,
                now
            );
            let item = fetch_item!(B, tx, req.store_id, product_id);
            tx.commit().await?;
            Ok(item)
        })
    })
    .await?;
    state.lookups.products_changed(req.store_id, [product_id]);
    tracing::info!(target: "kasir::transactions", store = req.store_id, product = product_id, movement = %movement_id, "HQ stock movement");
    Ok(axum::Json(ProductResponse { data: item }))
}

/// `POST /api/stores`: every column of the seed's `stores` (§2.2) and the pricing the tills
/// need.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewStore {
    pub store_code: String,
    pub store_name: String,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub province: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub manager_id: Option<u64>,
    #[serde(default)]
    pub tax_rate: Decimal,
    #[serde(default = "yes")]
    pub tax_inclusive: bool,
    /// *(kasir)* Cash is rounded to this increment (default Rp 100).
    #[serde(default = "hundred")]
    pub cash_rounding: Decimal,
    #[serde(default = "idr")]
    pub currency: String,
    #[serde(default = "jakarta")]
    pub timezone: String,
    #[serde(default = "yes")]
    pub is_active: bool,
}

fn yes() -> bool {
    true
}
fn hundred() -> Decimal {
    Decimal::from(100)
}
fn idr() -> String {
    "IDR".into()
}
fn jakarta() -> String {
    "Asia/Jakarta".into()
}

/// `PUT /api/stores/{id}`: the fields given change; `null` clears an optional one. The code
/// cannot change: it is printed in every transaction number of the store.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreChanges {
    #[serde(default)]
    pub store_code: Option<String>,
    #[serde(default)]
    pub store_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub address: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub city: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub province: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub postal_code: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub manager_id: Option<Option<u64>>,
    #[serde(default)]
    pub tax_rate: Option<Decimal>,
    #[serde(default)]
    pub tax_inclusive: Option<bool>,
    #[serde(default)]
    pub cash_rounding: Option<Decimal>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub is_active: Option<bool>,
}

/// A store as every read returns it: the seed's columns and ours.
#[derive(Debug, Clone, Serialize)]
pub struct StoreRecord {
    pub id: u64,
    pub store_code: String,
    pub store_name: String,
    pub address: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub postal_code: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub manager_id: Option<u64>,
    pub tax_rate: Decimal,
    pub tax_inclusive: bool,
    pub cash_rounding: Decimal,
    pub currency: String,
    pub timezone: String,
    pub is_active: bool,
    pub last_sync: Option<chrono::DateTime<Utc>>,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
}

/// What a store's writable columns hold, checked.
#[derive(Debug, Clone)]
struct StoreFields {
    store_name: String,
    address: Option<String>,
    city: Option<String>,
    province: Option<String>,
    postal_code: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    manager_id: Option<u64>,
    tax_rate: Decimal,
    tax_inclusive: bool,
    cash_rounding: Decimal,
    currency: String,
    timezone: String,
    is_active: bool,
}

impl StoreFields {
    fn from_record(r: &StoreRecord) -> StoreFields {
        StoreFields {
            store_name: r.store_name.clone(),
            address: r.address.clone(),
            city: r.city.clone(),
            province: r.province.clone(),
            postal_code: r.postal_code.clone(),
            phone: r.phone.clone(),
            email: r.email.clone(),
            manager_id: r.manager_id,
            tax_rate: r.tax_rate,
            tax_inclusive: r.tax_inclusive,
            cash_rounding: r.cash_rounding,
            currency: r.currency.clone(),
            timezone: r.timezone.clone(),
            is_active: r.is_active,
        }
    }

    fn apply(mut self, c: StoreChanges) -> StoreFields {
        fn set<T>(slot: &mut T, v: Option<T>) {
            if let Some(v) = v {
                *slot = v;
            }
        }
        set(&mut self.store_name, c.store_name);
        set(&mut self.address, c.address);
        set(&mut self.city, c.city);
        set(&mut self.province, c.province);
        set(&mut self.postal_code, c.postal_code);
        set(&mut self.phone, c.phone);
        set(&mut self.email, c.email);
        set(&mut self.manager_id, c.manager_id);
        set(&mut self.tax_rate, c.tax_rate);
        set(&mut self.tax_inclusive, c.tax_inclusive);
        set(&mut self.cash_rounding, c.cash_rounding);
        set(&mut self.currency, c.currency);
        set(&mut self.timezone, c.timezone);
        set(&mut self.is_active, c.is_active);
        self
    }

    /// Every field checked and trimmed (empty optional text becomes `NULL`).
    fn check(self) -> ApiResult<StoreFields> {
        let opt = |field: &str, v: &Option<String>, max| opt_text(field, v.as_deref(), max);
        let shaped = |field: &str,
                      v: &Option<String>,
                      f: fn(&str, &str) -> ApiResult<String>|
         -> ApiResult<Option<String>> {
            opt(field, v, 255)?.map(|t| f(field, &t)).transpose()
        };
        if self.tax_rate < Decimal::ZERO
            || self.tax_rate > Decimal::from(100)
            || self.tax_rate.normalize().scale() > 2
        {
            return Err(ApiError::field(
                "tax_rate",
                "must be a percentage from 0 to 100 with at most 2 decimals",
            ));
        }
        crate::fields::price("cash_rounding", self.cash_rounding)?;
        Ok(StoreFields {
            store_name: text("store_name", &self.store_name, 255)?,
            address: opt("address", &self.address, 2000)?,
            city: opt("city", &self.city, 100)?,
            province: opt("province", &self.province, 100)?,
            postal_code: shaped("postal_code", &self.postal_code, crate::fields::postal_code)?,
            phone: shaped("phone", &self.phone, crate::fields::phone)?,
            email: shaped("email", &self.email, crate::fields::email)?,
            manager_id: self.manager_id,
            tax_rate: self.tax_rate.normalize(),
            tax_inclusive: self.tax_inclusive,
            cash_rounding: self.cash_rounding.normalize(),
            currency: crate::fields::currency("currency", &self.currency)?,
            timezone: crate::fields::timezone("timezone", &self.timezone)?,
            is_active: self.is_active,
        })
    }
}

/// Binds a store's writable columns, in the order the statements list them.
macro_rules! bind_store_fields {
    ($B:ident, $q:expr, $f:expr) => {
        $q.bind(&$f.store_name)
            .bind(&$f.address)
            .bind(&$f.city)
            .bind(&$f.province)
            .bind(&$f.postal_code)
            .bind(&$f.phone)
            .bind(&$f.email)
            .bind($f.manager_id.map(to_i64))
            .bind($B::money($f.tax_rate)?)
            .bind($f.tax_inclusive)
            .bind($B::money($f.cash_rounding)?)
            .bind(&$f.currency)
            .bind(&$f.timezone)
            .bind($f.is_active)
    };
}

const STORE_COLUMNS: &str =
    "id, store_code, store_name, address, city, province, postal_code, phone, email,
    manager_id, tax_rate, tax_inclusive, cash_rounding, currency, timezone, is_active, last_sync,
    created_at, updated_at";

macro_rules! store_from_row {
    ($B:ident, $r:expr) => {{
        let r = $r;
        StoreRecord {
            id: to_u64($B::int(r, "id")?),
            store_code: r.try_get("store_code")?,
            store_name: r.try_get("store_name")?,
            address: r.try_get("address")?,
            city: r.try_get("city")?,
            province: r.try_get("province")?,
            postal_code: r.try_get("postal_code")?,
            phone: r.try_get("phone")?,
            email: r.try_get("email")?,
            manager_id: $B::opt_int(r, "manager_id")?.map(to_u64),
            tax_rate: $B::get_money(r, "tax_rate")?,
            tax_inclusive: $B::int(r, "tax_inclusive")? != 0,
            cash_rounding: $B::get_money(r, "cash_rounding")?,
            currency: r.try_get("currency")?,
            timezone: r.try_get("timezone")?,
            is_active: $B::int(r, "is_active")? != 0,
            last_sync: r.try_get("last_sync")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        }
    }};
}

/// Every store (`scope`: only that one), active or not (`active_only`), by code.
pub async fn store_records(
    db: &Db,
    scope: Option<u64>,
    id: Option<u64>,
    active_only: bool,
) -> ApiResult<Vec<StoreRecord>> {
    let scope = scope.map(to_i64);
    let id = id.map(to_i64);
    Ok(on_db!(db, |pool, B| {
        let sql = format!(
            "SELECT {STORE_COLUMNS} FROM stores WHERE (? IS NULL OR id = ?) AND (? IS NULL OR id = ?)
               AND (is_active = 1 OR ? = 0) ORDER BY store_code"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(scope)
            .bind(scope)
            .bind(id)
            .bind(id)
            .bind(active_only)
            .fetch_all(pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(store_from_row!(B, r));
        }
        out
    }))
}

/// Refuses a manager that is not an active user.
async fn check_manager(db: &Db, manager: Option<u64>) -> ApiResult<()> {
    let Some(m) = manager else { return Ok(()) };
    let n: i64 = on_db!(db, |pool, B| {
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id = ? AND is_active = 1")
            .bind(to_i64(m))
            .fetch_one(pool)
            .await?
    });
    if n == 0 {
        return Err(ApiError::field("manager_id", "no such active user"));
    }
    Ok(())
}

/// `POST /api/stores` (master data).
pub async fn create_store(
    State(state): State<AppState>,
    principal: Principal,
    Json(req): Json<NewStore>,
) -> ApiResult<(StatusCode, axum::Json<StoreRecord>)> {
    principal.require(Access::MasterData)?;
    let code = req.store_code.trim().to_string();
    kasir_schema::txn_number::StoreCode::new(&code)
        .map_err(|e| ApiError::field("store_code", e.to_string()))?;
    if code.bytes().all(|b| b.is_ascii_digit()) {
        // Paths take a store's numeric id or its code: a code must tell itself apart.
        return Err(ApiError::field(
            "store_code",
            "must contain a letter, so it cannot be mistaken for a store id",
        ));
    }
    let f = StoreFields {
        store_name: req.store_name,
        address: req.address,
        city: req.city,
        province: req.province,
        postal_code: req.postal_code,
        phone: req.phone,
        email: req.email,
        manager_id: req.manager_id,
        tax_rate: req.tax_rate,
        tax_inclusive: req.tax_inclusive,
        cash_rounding: req.cash_rounding,
        currency: req.currency,
        timezone: req.timezone,
        is_active: req.is_active,
    }
    .check()?;
    check_manager(&state.db, f.manager_id).await?;
    let user = principal.user_id().map(to_i64);
    let now = Utc::now();
    let id = on_db!(&state.db, |pool, B| {
        let mut tx = pool.begin().await?;
        let q = sqlx::query(
            "INSERT INTO stores (store_code, store_name, address, city, province, postal_code, phone, email,
                manager_id, tax_rate, tax_inclusive, cash_rounding, currency, timezone, is_active, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&code);
        let r = bind_store_fields!(B, q, f)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await;
        let id = match r {
            Ok(r) => r.last_insert_id_u64(),
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                return Err(ApiError::field(
                    "store_code",
                    "is taken (codes are compared without regard to case)",
                ));
            }
            Err(e) => return Err(e.into()),
        };
        crate::audit::write(
            &mut *tx,
            user,
            Some(to_i64(id)),
            "store.create",
            "stores",
            Some(to_i64(id)),
            serde_json::json!({ "store_code": code, "store_name": f.store_name }),
        )
        .await?;
        tx.commit().await?;
        id
    });
    let record = store_records(&state.db, None, Some(id), false)
        .await?
        .pop()
        .ok_or_else(|| ApiError::internal("a store just created is missing"))?;
    Ok((StatusCode::CREATED, axum::Json(record)))
}

/// `GET /api/stores/{id}`: one store, by id or code (its own for a store credential).
pub async fn get_store(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
) -> ApiResult<axum::Json<StoreRecord>> {
    principal.require(Access::ReadCatalog)?;
    let store = resolve_store_any(&state.db, &raw).await?;
    principal.require_store(store.id)?;
    store_records(&state.db, None, Some(store.id), false)
        .await?
        .pop()
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found(format!("store {raw:?}")))
}

/// `PUT /api/stores/{id}` (master data): change the given fields; `is_active: false` closes
/// the store (its devices stop syncing), `true` opens it again.
pub async fn update_store(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
    Json(req): Json<StoreChanges>,
) -> ApiResult<axum::Json<StoreRecord>> {
    principal.require(Access::MasterData)?;
    let store = resolve_store_any(&state.db, &raw).await?;
    let current = store_records(&state.db, None, Some(store.id), false)
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found(format!("store {raw:?}")))?;
    if let Some(c) = &req.store_code
        && c.trim() != current.store_code
    {
        return Err(ApiError::field(
            "store_code",
            "cannot change: it is part of every transaction number the store has printed",
        ));
    }
    let changed_manager = req.manager_id.is_some();
    let f = StoreFields::from_record(&current).apply(req).check()?;
    if changed_manager {
        check_manager(&state.db, f.manager_id).await?;
    }
    let user = principal.user_id().map(to_i64);
    let now = Utc::now();
    on_db!(&state.db, |pool, B| {
        let mut tx = pool.begin().await?;
        let q = sqlx::query(
            "UPDATE stores SET store_name = ?, address = ?, city = ?, province = ?, postal_code = ?, phone = ?,
                email = ?, manager_id = ?, tax_rate = ?, tax_inclusive = ?, cash_rounding = ?, currency = ?,
                timezone = ?, is_active = ?, updated_at = ?
             WHERE id = ?",
        );
        bind_store_fields!(B, q, f)
            .bind(now)
            .bind(to_i64(store.id))
            .execute(&mut *tx)
            .await?;
        crate::lookups::bump!(
            B,
            &mut *tx,
            crate::lookups::store_scope(store.id),
            state.lookups
        );
        crate::audit::write(
            &mut *tx,
            user,
            Some(to_i64(store.id)),
            "store.update",
            "stores",
            Some(to_i64(store.id)),
            serde_json::json!({ "store_name": f.store_name, "is_active": f.is_active }),
        )
        .await?;
        tx.commit().await?;
    });
    state.lookups.store_changed(store.id);
    store_records(&state.db, None, Some(store.id), false)
        .await?
        .pop()
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found(format!("store {raw:?}")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    pub name: String,
}

#[derive(Debug, Serialize)]
pub struct DeviceCreated {
    pub id: u64,
    pub store_id: u64,
    pub name: String,
    /// Shown once; only its hash is stored.
    pub token: String,
}

/// `POST /api/stores/{id}/devices`: a credential for one of the store's tills.
pub async fn create_device(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
    Json(req): Json<NewDevice>,
) -> ApiResult<(StatusCode, axum::Json<DeviceCreated>)> {
    principal.require(Access::ManageDevices)?;
    let store = resolve_store(&state.db, &raw).await?;
    principal.require_store(store.id)?;
    let name = &text("name", &req.name, 100)?;
    let (id, token) =
        crate::auth::issue_device(&state, store.id, name, principal.user_id()).await?;
    on_db!(&state.db, |pool, B| {
        crate::audit::write(
            pool,
            principal.user_id().map(to_i64),
            Some(to_i64(store.id)),
            "device.create",
            "devices",
            Some(to_i64(id)),
            serde_json::json!({ "name": name }),
        )
        .await?;
    });
    tracing::info!(target: "kasir::security", store = store.id, device = id, "device credential issued");
    Ok((
        StatusCode::CREATED,
        axum::Json(DeviceCreated {
            id,
            store_id: store.id,
            name: name.to_string(),
            token,
        }),
    ))
}

#[derive(Debug, Serialize)]
pub struct Created {
    pub id: u64,
}

/// `PUT /api/stores/{id}/products/{product_id}`: the seed's `store_products` columns. Only
/// the fields given change (`selling_price` is needed the first time); `null` clears
/// `location` or `last_restocked`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreProductSettings {
    #[serde(default)]
    pub selling_price: Option<Decimal>,
    /// Sets the store's count: HQ records an adjustment movement of the difference (counted
    /// once; the tills receive it with the download), so stock stays the sum of its movements.
    #[serde(default)]
    pub stock_quantity: Option<Decimal>,
    #[serde(default)]
    pub min_stock: Option<Decimal>,
    #[serde(default)]
    pub max_stock: Option<Decimal>,
    #[serde(default, deserialize_with = "nullable")]
    pub location: Option<Option<String>>,
    #[serde(default)]
    pub is_available: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub last_restocked: Option<Option<chrono::DateTime<Utc>>>,
}

/// `PUT /api/stores/{id}/products/{product_id}`: the store's price, stock limits, shelf
/// location, count and last restock of a product.
pub async fn set_store_product(
    State(state): State<AppState>,
    principal: Principal,
    Path((raw_store, raw_product)): Path<(String, String)>,
    Json(req): Json<StoreProductSettings>,
) -> ApiResult<axum::Json<ProductResponse>> {
    principal.require(Access::MasterData)?;
    let store = resolve_store(&state.db, &raw_store).await?;
    let product_id = parse_id(&raw_product, "product")?;
    if let Some(p) = req.selling_price {
        crate::fields::price("selling_price", p)?;
    }
    for (f, v) in [
        ("min_stock", req.min_stock),
        ("max_stock", req.max_stock),
        ("stock_quantity", req.stock_quantity),
    ] {
        if let Some(v) = v {
            if v < Decimal::ZERO {
                return Err(ApiError::field(f, "must not be negative"));
            }
            crate::db::check_qty(v).map_err(|e| ApiError::field(f, e.message))?;
        }
    }
    let location = match &req.location {
        Some(l) => Some(opt_text("location", l.as_deref(), 100)?),
        None => None,
    };
    let now = Utc::now();
    let user = principal.user_id().map(to_i64);
    let item = crate::error::retry(|| async {
        on_db!(&state.db, |pool, B| {
            let mut tx = pool.begin().await?;
            let found: Option<i64> =
                sqlx::query_scalar("SELECT COUNT(*) FROM products WHERE id = ?")
                    .bind(to_i64(product_id))
                    .fetch_optional(&mut *tx)
                    .await?;
            if found.unwrap_or(0) == 0 {
                return Err(ApiError::not_found(format!("product {product_id}")));
            }
            let lock = if B::IS_MYSQL { " FOR UPDATE" } else { "" };
            let current = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT selling_price, stock_quantity, min_stock, max_stock, location, is_available, last_restocked
                 FROM store_products WHERE store_id = ? AND product_id = ?{lock}"
            )))
            .bind(to_i64(store.id))
            .bind(to_i64(product_id))
            .fetch_optional(&mut *tx)
            .await?;
            // The row as it will be: what is stored, with the fields given.
            let (price, stock, min, max, loc, available, restocked) = match &current {
                Some(r) => (
                    req.selling_price.unwrap_or(B::get_money(r, "selling_price")?),
                    B::get_qty(r, "stock_quantity")?,
                    req.min_stock.unwrap_or(B::get_qty(r, "min_stock")?),
                    req.max_stock.unwrap_or(B::get_qty(r, "max_stock")?),
                    location.clone().unwrap_or(r.try_get("location")?),
                    req.is_available.unwrap_or(B::int(r, "is_available")? != 0),
                    req.last_restocked.unwrap_or(r.try_get("last_restocked")?),
                ),
                None => (
                    req.selling_price.ok_or_else(|| {
                        ApiError::field("selling_price", "is needed the first time a store carries a product")
                    })?,
                    Decimal::ZERO,
                    req.min_stock.unwrap_or(Decimal::ZERO),
                    req.max_stock.unwrap_or(Decimal::from(1000)),
                    location.clone().flatten(),
                    req.is_available.unwrap_or(true),
                    req.last_restocked.flatten(),
                ),
            };
            if min > max {
                return Err(ApiError::field("min_stock", "must not exceed max_stock"));
            }
            let upsert = if B::IS_MYSQL {
                "INSERT INTO store_products (store_id, product_id, selling_price, min_stock, max_stock, location,
                    is_available, last_restocked, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON DUPLICATE KEY UPDATE selling_price = VALUES(selling_price), min_stock = VALUES(min_stock),
                    max_stock = VALUES(max_stock), location = VALUES(location), is_available = VALUES(is_available),
                    last_restocked = VALUES(last_restocked), updated_at = VALUES(updated_at)"
            } else {
                "INSERT INTO store_products (store_id, product_id, selling_price, min_stock, max_stock, location,
                    is_available, last_restocked, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT(store_id, product_id) DO UPDATE SET selling_price = excluded.selling_price,
                    min_stock = excluded.min_stock, max_stock = excluded.max_stock, location = excluded.location,
                    is_available = excluded.is_available, last_restocked = excluded.last_restocked,
                    updated_at = excluded.updated_at"
            };
            sqlx::query(upsert)
                .bind(to_i64(store.id))
                .bind(to_i64(product_id))
                .bind(B::money(price)?)
                .bind(B::qty(min)?)
                .bind(B::qty(max)?)
                .bind(&loc)
                .bind(available)
                .bind(restocked)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            crate::lookups::bump!(
                B,
                &mut *tx,
                crate::lookups::store_scope(store.id),
                state.lookups
            );
            crate::audit::write(&mut *tx, user, Some(to_i64(store.id)), "store_product.set", "store_products", Some(to_i64(product_id)),
                serde_json::json!({ "selling_price": price.to_string(), "is_available": available, "location": loc })).await?;
            // A count: the difference becomes an adjustment, like any HQ movement.
            if let Some(target) = req.stock_quantity {
                let signed = target - stock;
                if !signed.is_zero() {
                    let id = uuid::Uuid::now_v7().to_string();
                    let notes = Some(format!("count set to {} at HQ", target.normalize()));
                    hq_movement!(B, tx, state, store.id, product_id, &id, "adjustment", "adjustment", signed, &notes, user, now);
                }
            }
            let item = fetch_item!(B, tx, store.id, product_id);
            tx.commit().await?;
            Ok(item)
        })
    })
    .await?;
    state.lookups.products_changed(store.id, [product_id]);
    Ok(axum::Json(ProductResponse { data: item }))
}
