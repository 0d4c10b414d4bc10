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
use crate::on_db;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreRef {
    pub id: u64,
    pub code: String,
}

/// A store named by its numeric id or its code (the seed uses both).
pub async fn resolve_store(db: &Db, raw: &str) -> ApiResult<StoreRef> {
    if raw.is_empty() || raw.len() > 50 {
        return Err(ApiError::not_found(format!("store {raw:?}")));
    }
    let id = raw.parse::<u64>().ok();
    let row = on_db!(db, |pool, B| {
        let r = sqlx::query(
            "SELECT id, store_code FROM stores WHERE (id = ? OR store_code = ?) AND is_active = 1",
        )
        .bind(id.map_or(-1, to_i64))
        .bind(raw)
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
    sp.selling_price, sp.stock_quantity, sp.is_available";

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
    let item = crate::db::retry(|| async {
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
            let insert = if B::IS_MYSQL {
                "INSERT IGNORE INTO stock_movements (movement_id, store_id, product_id, movement_type, quantity,
                    reference_type, notes, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            } else {
                "INSERT OR IGNORE INTO stock_movements (movement_id, store_id, product_id, movement_type, quantity,
                    reference_type, notes, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            };
            let inserted = sqlx::query(insert)
                .bind(&movement_id)
                .bind(to_i64(req.store_id))
                .bind(to_i64(product_id))
                .bind(kind)
                .bind(B::qty(signed)?)
                .bind(reference)
                .bind(&req.notes)
                .bind(user)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if inserted == 1 {
                sqlx::query(
                    "UPDATE store_products SET stock_quantity = stock_quantity + ?, updated_at = ?
                     WHERE store_id = ? AND product_id = ?",
                )
                .bind(B::qty(signed)?)
                .bind(now)
                .bind(to_i64(req.store_id))
                .bind(to_i64(product_id))
                .execute(&mut *tx)
                .await?;
                let row = sqlx::query(
                    "SELECT sp.stock_quantity, sp.min_stock, p.sku FROM store_products sp
                     JOIN products p ON p.id = sp.product_id WHERE sp.store_id = ? AND sp.product_id = ?",
                )
                .bind(to_i64(req.store_id))
                .bind(to_i64(product_id))
                .fetch_one(&mut *tx)
                .await?;
                let (after, min) = (B::get_qty(&row, "stock_quantity")?, B::get_qty(&row, "min_stock")?);
                if after <= min && after - signed > min {
                    let sku: String = row.try_get("sku")?;
                    let data = serde_json::json!({
                        "store_id": req.store_id, "product_id": product_id, "sku": sku,
                        "stock_quantity": after, "min_stock": min
                    });
                    crate::webhooks::enqueue!(B, &mut *tx, "stock.low", data);
                }
                sqlx::query(
                    "INSERT INTO hq_stock_movements (movement_id, store_id, created_at) VALUES (?, ?, ?)",
                )
                .bind(&movement_id)
                .bind(to_i64(req.store_id))
                .bind(now)
                .execute(&mut *tx)
                .await?;
                crate::lookups::bump!(B, &mut *tx, crate::lookups::store_scope(req.store_id), state.lookups);
                crate::sync::audit(
                    &mut *tx,
                    user,
                    Some(to_i64(req.store_id)),
                    "stock.adjust",
                    "stock_movements",
                    Some(to_i64(product_id)),
                    serde_json::json!({ "movement_id": movement_id, "quantity": signed.to_string(), "type": &kind }),
                )
                .await?;
            } else {
                // A retried request: the same id must mean the same movement.
                let row = sqlx::query(
                    "SELECT store_id, product_id, quantity FROM stock_movements WHERE movement_id = ?",
                )
                .bind(&movement_id)
                .fetch_one(&mut *tx)
                .await?;
                let same = B::int(&row, "store_id")? == to_i64(req.store_id)
                    && B::int(&row, "product_id")? == to_i64(product_id)
                    && B::get_qty(&row, "quantity")? == signed.normalize();
                if !same {
                    return Err(ApiError::conflict(format!(
                        "movement {movement_id} already exists with different content"
                    )));
                }
            }
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewStore {
    pub store_code: String,
    pub store_name: String,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub tax_rate: Decimal,
    #[serde(default = "yes")]
    pub tax_inclusive: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Serialize)]
pub struct StoreCreated {
    pub id: u64,
    pub store_code: String,
}

/// `POST /api/stores` (master data).
pub async fn create_store(
    State(state): State<AppState>,
    principal: Principal,
    Json(req): Json<NewStore>,
) -> ApiResult<(StatusCode, axum::Json<StoreCreated>)> {
    principal.require(Access::MasterData)?;
    kasir_schema::txn_number::StoreCode::new(&req.store_code)
        .map_err(|e| ApiError::field("store_code", e.to_string()))?;
    let name = &text("store_name", &req.store_name, 255)?;
    if req.tax_rate < Decimal::ZERO || req.tax_rate > Decimal::from(100) || req.tax_rate.scale() > 2
    {
        return Err(ApiError::field(
            "tax_rate",
            "must be a percentage from 0 to 100 with at most 2 decimals",
        ));
    }
    let user = principal.user_id().map(to_i64);
    let id = on_db!(&state.db, |pool, B| {
        let mut tx = pool.begin().await?;
        let r = sqlx::query(
            "INSERT INTO stores (store_code, store_name, address, tax_rate, tax_inclusive) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&req.store_code)
        .bind(name)
        .bind(&req.address)
        .bind(if B::IS_MYSQL { req.tax_rate.to_string() } else { kasir_schema::sql::scaled::to_scaled(req.tax_rate, 2).unwrap_or(0).to_string() })
        .bind(req.tax_inclusive)
        .execute(&mut *tx)
        .await;
        let id = match r {
            Ok(r) => r.last_insert_id_u64(),
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                return Err(ApiError::field("store_code", "is taken"));
            }
            Err(e) => return Err(e.into()),
        };
        crate::sync::audit(
            &mut *tx,
            user,
            Some(to_i64(id)),
            "store.create",
            "stores",
            Some(to_i64(id)),
            serde_json::json!({ "store_code": req.store_code, "store_name": name }),
        )
        .await?;
        tx.commit().await?;
        id
    });
    Ok((
        StatusCode::CREATED,
        axum::Json(StoreCreated {
            id,
            store_code: req.store_code,
        }),
    ))
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
        crate::sync::audit(
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    pub sku: String,
    pub name: String,
    #[serde(default)]
    pub barcode: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub category_id: Option<u64>,
    #[serde(default = "pcs")]
    pub unit: String,
    #[serde(default)]
    pub cost_price: Decimal,
}

fn pcs() -> String {
    "pcs".into()
}

#[derive(Debug, Serialize)]
pub struct Created {
    pub id: u64,
}

/// `POST /api/products` (master data).
pub async fn create_product(
    State(state): State<AppState>,
    principal: Principal,
    Json(req): Json<NewProduct>,
) -> ApiResult<(StatusCode, axum::Json<Created>)> {
    principal.require(Access::MasterData)?;
    let sku = &text("sku", &req.sku, 100)?;
    let name = &text("name", &req.name, 255)?;
    if let Some(b) = &req.barcode
        && (b.is_empty() || b.len() > 255 || !b.chars().all(|c| c.is_ascii_graphic()))
    {
        return Err(ApiError::field(
            "barcode",
            "must be 1 to 255 printable characters",
        ));
    }
    if !matches!(
        req.unit.as_str(),
        "pcs" | "kg" | "g" | "l" | "ml" | "pack" | "box"
    ) {
        return Err(ApiError::field(
            "unit",
            "must be one of pcs, kg, g, l, ml, pack, box",
        ));
    }
    if req.cost_price < Decimal::ZERO {
        return Err(ApiError::field("cost_price", "must not be negative"));
    }
    crate::db::check_money(req.cost_price).map_err(|e| ApiError::field("cost_price", e.message))?;
    let user = principal.user_id().map(to_i64);
    let now = Utc::now();
    let id = on_db!(&state.db, |pool, B| {
        let mut tx = pool.begin().await?;
        if let Some(c) = req.category_id {
            let found: Option<i64> =
                sqlx::query_scalar("SELECT COUNT(*) FROM categories WHERE id = ?")
                    .bind(to_i64(c))
                    .fetch_optional(&mut *tx)
                    .await?;
            if found.unwrap_or(0) == 0 {
                return Err(ApiError::field("category_id", "no such category"));
            }
        }
        let r = sqlx::query(
            "INSERT INTO products (barcode, sku, name, description, category_id, unit, cost_price, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&req.barcode)
        .bind(sku)
        .bind(name)
        .bind(&req.description)
        .bind(req.category_id.map(to_i64))
        .bind(&req.unit)
        .bind(B::money(req.cost_price)?)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await;
        let id = match r {
            Ok(r) => r.last_insert_id_u64(),
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                return Err(ApiError::field(
                    "sku",
                    "the SKU or barcode belongs to another product",
                ));
            }
            Err(e) => return Err(e.into()),
        };
        crate::lookups::bump!(B, &mut *tx, crate::lookups::CATALOG, state.lookups);
        crate::sync::audit(
            &mut *tx,
            user,
            None,
            "product.create",
            "products",
            Some(to_i64(id)),
            serde_json::json!({ "sku": sku, "name": name, "barcode": req.barcode }),
        )
        .await?;
        tx.commit().await?;
        id
    });
    state.lookups.catalog_changed();
    Ok((StatusCode::CREATED, axum::Json(Created { id })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreProductSettings {
    pub selling_price: Decimal,
    #[serde(default)]
    pub min_stock: Decimal,
    #[serde(default = "thousand")]
    pub max_stock: Decimal,
    #[serde(default = "yes")]
    pub is_available: bool,
}

fn thousand() -> Decimal {
    Decimal::from(1000)
}

/// `PUT /api/stores/{id}/products/{product_id}`: the store's price and stock limits for a
/// product (stock itself only moves by movements).
pub async fn set_store_product(
    State(state): State<AppState>,
    principal: Principal,
    Path((raw_store, raw_product)): Path<(String, String)>,
    Json(req): Json<StoreProductSettings>,
) -> ApiResult<axum::Json<ProductResponse>> {
    principal.require(Access::MasterData)?;
    let store = resolve_store(&state.db, &raw_store).await?;
    let product_id = parse_id(&raw_product, "product")?;
    if req.selling_price < Decimal::ZERO {
        return Err(ApiError::field("selling_price", "must not be negative"));
    }
    crate::db::check_money(req.selling_price)
        .map_err(|e| ApiError::field("selling_price", e.message))?;
    for (f, v) in [("min_stock", req.min_stock), ("max_stock", req.max_stock)] {
        if v < Decimal::ZERO {
            return Err(ApiError::field(f, "must not be negative"));
        }
        crate::db::check_qty(v).map_err(|e| ApiError::field(f, e.message))?;
    }
    let now = Utc::now();
    let user = principal.user_id().map(to_i64);
    let item = on_db!(&state.db, |pool, B| {
        let mut tx = pool.begin().await?;
        let found: Option<i64> = sqlx::query_scalar("SELECT COUNT(*) FROM products WHERE id = ?")
            .bind(to_i64(product_id))
            .fetch_optional(&mut *tx)
            .await?;
        if found.unwrap_or(0) == 0 {
            return Err(ApiError::not_found(format!("product {product_id}")));
        }
        let upsert = if B::IS_MYSQL {
            "INSERT INTO store_products (store_id, product_id, selling_price, min_stock, max_stock, is_available, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON DUPLICATE KEY UPDATE selling_price = VALUES(selling_price), min_stock = VALUES(min_stock),
                max_stock = VALUES(max_stock), is_available = VALUES(is_available), updated_at = VALUES(updated_at)"
        } else {
            "INSERT INTO store_products (store_id, product_id, selling_price, min_stock, max_stock, is_available, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT(store_id, product_id) DO UPDATE SET selling_price = excluded.selling_price,
                min_stock = excluded.min_stock, max_stock = excluded.max_stock, is_available = excluded.is_available,
                updated_at = excluded.updated_at"
        };
        sqlx::query(upsert)
            .bind(to_i64(store.id))
            .bind(to_i64(product_id))
            .bind(B::money(req.selling_price)?)
            .bind(B::qty(req.min_stock)?)
            .bind(B::qty(req.max_stock)?)
            .bind(req.is_available)
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
        crate::sync::audit(&mut *tx, user, Some(to_i64(store.id)), "store_product.set", "store_products", Some(to_i64(product_id)),
            serde_json::json!({ "selling_price": req.selling_price.to_string(), "is_available": req.is_available })).await?;
        let item = fetch_item!(B, tx, store.id, product_id);
        tx.commit().await?;
        item
    });
    state.lookups.products_changed(store.id, [product_id]);
    Ok(axum::Json(ProductResponse { data: item }))
}
