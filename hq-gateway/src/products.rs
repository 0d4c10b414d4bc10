//! Every product route: products as HQ master data (create, read, change, deactivate, every
//! column of the seed's `products`, §2.2), a store's view of them (§3.3: the list with price
//! and stock, by barcode), HQ stock movements, and a store's own row of a product
//! (`store_products`: price, limits, location, last restock, a count).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use kasir_schema::Decimal;
use kasir_schema::domain::MovementType;
use kasir_schema::wire::{
    CategoryRef, PageMeta, ProductListItem, ProductListResponse, ProductResponse, ProductsQuery,
    StockUpdateRequest,
};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::AppState;
use crate::auth::{LastInsertId, Principal};
use crate::db::{Db, to_i64, to_u64};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Query, parse_id, text};
use crate::fields::{JsonShape, nullable, opt_text};
use crate::on_db;
use crate::stores::resolve_store;

/// `POST /api/products`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = crate::examples::new_product())]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    #[schemars(schema_with = "kasir_schema::api_schema::text::<100>")]
    pub sku: String,
    #[schemars(schema_with = "kasir_schema::api_schema::text::<255>")]
    pub name: String,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_barcode")]
    pub barcode: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_text::<10000>")]
    pub description: Option<String>,
    #[serde(default)]
    pub category_id: Option<u64>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_text::<255>")]
    pub brand: Option<String>,
    #[serde(default = "pcs")]
    #[schemars(schema_with = "kasir_schema::api_schema::unit")]
    pub unit: String,
    /// Kilograms (the seed's `DECIMAL(8,2)`).
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_weight")]
    pub weight: Option<Decimal>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_text::<100>")]
    pub dimensions: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::money")]
    pub cost_price: Decimal,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_money")]
    pub suggested_price: Option<Decimal>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_money")]
    pub min_price: Option<Decimal>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_money")]
    pub max_price: Option<Decimal>,
    #[serde(default = "yes")]
    pub is_active: bool,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_text::<500>")]
    pub image_url: Option<String>,
    /// An array of image URLs.
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_images")]
    pub images: Option<serde_json::Value>,
    /// A JSON object of the product's attributes (colour, size, …).
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_attributes")]
    pub attributes: Option<serde_json::Value>,
}

fn pcs() -> String {
    "pcs".into()
}
fn yes() -> bool {
    true
}

/// `PUT /api/products/{id}`: the fields given change; `null` clears an optional one.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[schemars(example = crate::examples::product_changes())]
#[serde(deny_unknown_fields)]
pub struct ProductChanges {
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::or_null_text::<100>")]
    pub sku: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::or_null_text::<255>")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_barcode")]
    pub barcode: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_text::<10000>")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub category_id: Option<Option<u64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_text::<255>")]
    pub brand: Option<Option<String>>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::or_null_unit")]
    pub unit: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_weight")]
    pub weight: Option<Option<Decimal>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_text::<100>")]
    pub dimensions: Option<Option<String>>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::or_null_money")]
    pub cost_price: Option<Decimal>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_money")]
    pub suggested_price: Option<Option<Decimal>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_money")]
    pub min_price: Option<Option<Decimal>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_money")]
    pub max_price: Option<Option<Decimal>>,
    #[serde(default)]
    pub is_active: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_text::<500>")]
    pub image_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_images")]
    pub images: Option<Option<serde_json::Value>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_attributes")]
    pub attributes: Option<Option<serde_json::Value>>,
}

/// A product as every master-data read returns it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ProductRecord {
    pub id: u64,
    pub barcode: Option<String>,
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub category_id: Option<u64>,
    pub brand: Option<String>,
    pub unit: String,
    #[schemars(schema_with = "kasir_schema::api_schema::opt_number")]
    pub weight: Option<Decimal>,
    pub dimensions: Option<String>,
    #[schemars(schema_with = "kasir_schema::api_schema::number")]
    pub cost_price: Decimal,
    #[schemars(schema_with = "kasir_schema::api_schema::opt_number")]
    pub suggested_price: Option<Decimal>,
    #[schemars(schema_with = "kasir_schema::api_schema::opt_number")]
    pub min_price: Option<Decimal>,
    #[schemars(schema_with = "kasir_schema::api_schema::opt_number")]
    pub max_price: Option<Decimal>,
    pub is_active: bool,
    pub image_url: Option<String>,
    pub images: Option<serde_json::Value>,
    pub attributes: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The units a product may be sold in.
pub use kasir_schema::api_schema::UNITS;

/// What a product's writable columns hold, checked (JSON columns as their stored text).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProductFields {
    pub(crate) sku: String,
    pub(crate) name: String,
    pub(crate) barcode: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) category_id: Option<u64>,
    pub(crate) brand: Option<String>,
    pub(crate) unit: String,
    pub(crate) weight: Option<Decimal>,
    pub(crate) dimensions: Option<String>,
    pub(crate) cost_price: Decimal,
    pub(crate) suggested_price: Option<Decimal>,
    pub(crate) min_price: Option<Decimal>,
    pub(crate) max_price: Option<Decimal>,
    pub(crate) is_active: bool,
    pub(crate) image_url: Option<String>,
    pub(crate) images: Option<serde_json::Value>,
    pub(crate) attributes: Option<serde_json::Value>,
}

impl ProductFields {
    fn from_new(r: NewProduct) -> ProductFields {
        ProductFields {
            sku: r.sku,
            name: r.name,
            barcode: r.barcode,
            description: r.description,
            category_id: r.category_id,
            brand: r.brand,
            unit: r.unit,
            weight: r.weight,
            dimensions: r.dimensions,
            cost_price: r.cost_price,
            suggested_price: r.suggested_price,
            min_price: r.min_price,
            max_price: r.max_price,
            is_active: r.is_active,
            image_url: r.image_url,
            images: r.images,
            attributes: r.attributes,
        }
    }

    /// A new product: the SKU and name given, every other column its default.
    pub(crate) fn new(sku: String, name: String) -> ProductFields {
        ProductFields::from_new(NewProduct {
            sku,
            name,
            barcode: None,
            description: None,
            category_id: None,
            brand: None,
            unit: pcs(),
            weight: None,
            dimensions: None,
            cost_price: Decimal::ZERO,
            suggested_price: None,
            min_price: None,
            max_price: None,
            is_active: yes(),
            image_url: None,
            images: None,
            attributes: None,
        })
    }

    pub(crate) fn from_record(r: &ProductRecord) -> ProductFields {
        ProductFields {
            sku: r.sku.clone(),
            name: r.name.clone(),
            barcode: r.barcode.clone(),
            description: r.description.clone(),
            category_id: r.category_id,
            brand: r.brand.clone(),
            unit: r.unit.clone(),
            weight: r.weight,
            dimensions: r.dimensions.clone(),
            cost_price: r.cost_price,
            suggested_price: r.suggested_price,
            min_price: r.min_price,
            max_price: r.max_price,
            is_active: r.is_active,
            image_url: r.image_url.clone(),
            images: r.images.clone(),
            attributes: r.attributes.clone(),
        }
    }

    pub(crate) fn apply(mut self, c: ProductChanges) -> ProductFields {
        use crate::fields::set;
        set(&mut self.sku, c.sku);
        set(&mut self.name, c.name);
        set(&mut self.barcode, c.barcode);
        set(&mut self.description, c.description);
        set(&mut self.category_id, c.category_id);
        set(&mut self.brand, c.brand);
        set(&mut self.unit, c.unit);
        set(&mut self.weight, c.weight);
        set(&mut self.dimensions, c.dimensions);
        set(&mut self.cost_price, c.cost_price);
        set(&mut self.suggested_price, c.suggested_price);
        set(&mut self.min_price, c.min_price);
        set(&mut self.max_price, c.max_price);
        set(&mut self.is_active, c.is_active);
        set(&mut self.image_url, c.image_url);
        set(&mut self.images, c.images);
        set(&mut self.attributes, c.attributes);
        self
    }

    /// Every field checked; returns the fields and the JSON columns' text.
    pub(crate) fn check(self) -> ApiResult<(ProductFields, Option<String>, Option<String>)> {
        let barcode = crate::fields::opt_barcode("barcode", self.barcode.as_deref())?;
        if !UNITS.contains(&self.unit.as_str()) {
            return Err(ApiError::field(
                "unit",
                format!("must be one of {}", UNITS.join(", ")),
            ));
        }
        if let Some(w) = self.weight
            && (w < Decimal::ZERO || w >= Decimal::from(1_000_000) || w.normalize().scale() > 2)
        {
            return Err(ApiError::field(
                "weight",
                "must be kilograms from 0 to 999999.99 with at most 2 decimals",
            ));
        }
        let price = crate::fields::price;
        let opt_price = |f: &str, v: Option<Decimal>| v.map(|v| price(f, v)).transpose();
        let checked = ProductFields {
            sku: crate::extract::text("sku", &self.sku, 100)?,
            name: text("name", &self.name, 255)?,
            barcode,
            description: opt_text("description", self.description.as_deref(), 10_000)?,
            category_id: self.category_id,
            brand: opt_text("brand", self.brand.as_deref(), 255)?,
            unit: self.unit,
            weight: self.weight.map(|w| w.normalize()),
            dimensions: opt_text("dimensions", self.dimensions.as_deref(), 100)?,
            cost_price: price("cost_price", self.cost_price)?,
            suggested_price: opt_price("suggested_price", self.suggested_price)?,
            min_price: opt_price("min_price", self.min_price)?,
            max_price: opt_price("max_price", self.max_price)?,
            is_active: self.is_active,
            image_url: opt_text("image_url", self.image_url.as_deref(), 500)?,
            images: self.images,
            attributes: self.attributes,
        };
        crate::fields::price_bounds(
            checked.min_price,
            checked.suggested_price,
            checked.max_price,
        )?;
        let images = checked
            .images
            .as_ref()
            .map(|v| crate::fields::json("images", v, JsonShape::Strings))
            .transpose()?;
        let attributes = checked
            .attributes
            .as_ref()
            .map(|v| crate::fields::json("attributes", v, JsonShape::Object))
            .transpose()?;
        Ok((checked, images, attributes))
    }
}

/// JSON columns are read as text (`CAST`: MySQL 8 has a JSON type of its own, MariaDB and
/// SQLite keep text).
/// Binds a product's writable columns, in the order the statements list them.
macro_rules! bind_product_fields {
    ($B:ident, $q:expr, $f:expr, $images:expr, $attributes:expr) => {
        $q.bind(&$f.barcode)
            .bind(&$f.sku)
            .bind(&$f.name)
            .bind(&$f.description)
            .bind($f.category_id.map(to_i64))
            .bind(&$f.brand)
            .bind(&$f.unit)
            .bind($f.weight.map($B::money).transpose()?)
            .bind(&$f.dimensions)
            .bind($B::money($f.cost_price)?)
            .bind($f.suggested_price.map($B::money).transpose()?)
            .bind($f.min_price.map($B::money).transpose()?)
            .bind($f.max_price.map($B::money).transpose()?)
            .bind($f.is_active)
            .bind(&$f.image_url)
            .bind(&$images)
            .bind(&$attributes)
    };
}
pub(crate) use bind_product_fields;

/// Every writable column (bound by `bind_product_fields!`), then `updated_at`, the download
/// version (`lookups::next_version!`) and the id.
pub(crate) const UPDATE_PRODUCT: &str = "UPDATE products SET barcode = ?, sku = ?, name = ?, description = ?,
    category_id = ?, brand = ?, unit = ?, weight = ?, dimensions = ?, cost_price = ?, suggested_price = ?,
    min_price = ?, max_price = ?, is_active = ?, image_url = ?, images = ?, attributes = ?, updated_at = ?,
    sync_version = ? WHERE id = ?";

pub(crate) const PRODUCT_COLUMNS: &str = "id, barcode, sku, name, description, category_id, brand, unit, weight, dimensions,
    cost_price, suggested_price, min_price, max_price, is_active, image_url, CAST(images AS CHAR) AS images,
    CAST(attributes AS CHAR) AS attributes, created_at, updated_at";

/// A `ProductRecord` from a row of `PRODUCT_COLUMNS`.
macro_rules! product_from_row {
    ($B:ident, $r:expr) => {{
        let r = &$r;
        ProductRecord {
            id: $crate::db::to_u64($B::int(&r, "id")?),
            barcode: r.try_get("barcode")?,
            sku: r.try_get("sku")?,
            name: r.try_get("name")?,
            description: r.try_get("description")?,
            category_id: $B::opt_int(&r, "category_id")?.map($crate::db::to_u64),
            brand: r.try_get("brand")?,
            unit: r.try_get("unit")?,
            weight: $B::opt_money(&r, "weight")?,
            dimensions: r.try_get("dimensions")?,
            cost_price: $B::get_money(&r, "cost_price")?,
            suggested_price: $B::opt_money(&r, "suggested_price")?,
            min_price: $B::opt_money(&r, "min_price")?,
            max_price: $B::opt_money(&r, "max_price")?,
            is_active: $B::int(&r, "is_active")? != 0,
            image_url: r.try_get("image_url")?,
            images: $crate::fields::parse_stored_json(r.try_get("images")?),
            attributes: $crate::fields::parse_stored_json(r.try_get("attributes")?),
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        }
    }};
}
pub(crate) use product_from_row;

/// One product, or `None`.
pub async fn product_record(db: &Db, id: u64) -> ApiResult<Option<ProductRecord>> {
    Ok(on_db!(db, |pool, B| {
        let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ?");
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(to_i64(id))
            .fetch_optional(pool)
            .await?;
        match r {
            None => None,
            Some(r) => Some(product_from_row!(B, r)),
        }
    }))
}

async fn check_category(db: &Db, category: Option<u64>) -> ApiResult<()> {
    crate::fields::must_exist(
        db,
        "SELECT COUNT(*) FROM categories WHERE id = ?",
        category,
        "category_id",
        "no such category",
    )
    .await
}

/// `POST /api/products` (master data).
pub async fn create_product(
    State(state): State<AppState>,
    principal: Principal,
    Json(req): Json<NewProduct>,
) -> ApiResult<(StatusCode, axum::Json<ProductRecord>)> {
    let (f, images, attributes) = ProductFields::from_new(req).check()?;
    check_category(&state.db, f.category_id).await?;
    let user = principal.user_id().map(to_i64);
    let now = Utc::now();
    let id = on_db!(&state.db, |pool, B| {
        let mut tx = B::begin(pool).await?;
        let version = crate::lookups::next_version!(B, tx, crate::lookups::CATALOG, state.lookups);
        let r = sqlx::query(
            "INSERT INTO products (barcode, sku, name, description, category_id, brand, unit, weight, dimensions,
                cost_price, suggested_price, min_price, max_price, is_active, image_url, images, attributes,
                created_at, updated_at, sync_version)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        );
        let r = bind_product_fields!(B, r, f, images, attributes)
            .bind(now)
            .bind(now)
            .bind(version)
            .execute(&mut *tx)
            .await;
        let id = match r {
            Ok(r) => r.last_insert_id_u64(),
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                return Err(ApiError::conflict_on(
                    "sku",
                    "the SKU or barcode belongs to another product",
                ));
            }
            Err(e) => return Err(e.into()),
        };
        crate::audit::write(
            &mut *tx,
            user,
            None,
            "product.create",
            "products",
            Some(to_i64(id)),
            serde_json::json!({ "sku": f.sku, "name": f.name, "barcode": f.barcode }),
        )
        .await?;
        tx.commit().await?;
        id
    });
    state.lookups.catalog_changed();
    let record = product_record(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::internal("a product just created is missing"))?;
    Ok((StatusCode::CREATED, axum::Json(record)))
}

/// `GET /api/products/{id}`: the product's master data (any credential; a store's price and
/// stock are in `GET /api/products?store_id=`).
pub async fn get_product(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> ApiResult<axum::Json<ProductRecord>> {
    let id = parse_id(&raw, "product")?;
    product_record(&state.db, id)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found(format!("product {id}")))
}

/// `PUT /api/products/{id}` (master data): change the given fields.
pub async fn update_product(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
    Json(req): Json<ProductChanges>,
) -> ApiResult<axum::Json<ProductRecord>> {
    let id = parse_id(&raw, "product")?;
    let changed_category = req.category_id.is_some();
    change_product(
        &state,
        &principal,
        id,
        req,
        "product.update",
        changed_category,
    )
    .await
}

/// `DELETE /api/products/{id}` (master data): the product is deactivated (sales keep pointing
/// at it); stores stop seeing it on their next download.
pub async fn delete_product(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
) -> ApiResult<axum::Json<ProductRecord>> {
    let id = parse_id(&raw, "product")?;
    let off = ProductChanges {
        is_active: Some(false),
        ..ProductChanges::default()
    };
    change_product(&state, &principal, id, off, "product.deactivate", false).await
}

async fn change_product(
    state: &AppState,
    principal: &Principal,
    id: u64,
    changes: ProductChanges,
    action: &str,
    check_category_again: bool,
) -> ApiResult<axum::Json<ProductRecord>> {
    let current = product_record(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("product {id}")))?;
    let (f, images, attributes) = ProductFields::from_record(&current)
        .apply(changes)
        .check()?;
    if check_category_again {
        check_category(&state.db, f.category_id).await?;
    }
    let now = Utc::now();
    let user = principal.user_id().map(to_i64);
    on_db!(&state.db, |pool, B| {
        let mut tx = B::begin(pool).await?;
        let version = crate::lookups::next_version!(B, tx, crate::lookups::CATALOG, state.lookups);
        let r = sqlx::query(UPDATE_PRODUCT);
        let r = bind_product_fields!(B, r, f, images, attributes)
            .bind(now)
            .bind(version)
            .bind(to_i64(id))
            .execute(&mut *tx)
            .await;
        match r {
            Ok(_) => {}
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                return Err(ApiError::conflict_on(
                    "sku",
                    "the SKU or barcode belongs to another product",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        crate::audit::write(
            &mut *tx,
            user,
            None,
            action,
            "products",
            Some(to_i64(id)),
            serde_json::json!({ "sku": f.sku, "name": f.name, "is_active": f.is_active }),
        )
        .await?;
        tx.commit().await?;
    });
    state.lookups.catalog_changed();
    product_record(&state.db, id)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found(format!("product {id}")))
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

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreQuery {
    #[schemars(example = 1)]
    pub store_id: u64,
}

/// `GET /api/products?store_id=&category_id=&search=&per_page=&page=`
pub async fn list_products(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ProductsQuery>,
) -> ApiResult<axum::Json<ProductListResponse>> {
    principal.require_store(q.store_id)?;
    let offset = crate::analytics::page_offset(q.page, q.per_page)?;
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
            crate::lookups::stamp!(
                $B,
                $tx,
                crate::lookups::store_scope(store),
                $state.lookups,
                "UPDATE hq_stock_movements SET sync_version = ? WHERE movement_id IN ({})",
                [],
                [id]
            );
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
    principal.require_store(req.store_id)?;
    let product_id = parse_id(&id, "product")?;
    // What the movement is about comes first: a product the store does not carry is a 404
    // whatever the movement says (checked again inside the transaction).
    if !store_carries(&state.db, req.store_id, product_id).await? {
        return Err(ApiError::not_found(format!(
            "product {product_id} in store {}",
            req.store_id
        )));
    }
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
    // The seed's transfer columns: a transfer leaves `store_id` for another store.
    let (from_store, to_store) = match req.movement_type {
        MovementType::Transfer => {
            let to = req.to_store_id.ok_or_else(|| {
                ApiError::field("to_store_id", "a transfer names the store it goes to")
            })?;
            if to == req.store_id {
                return Err(ApiError::field("to_store_id", "must be another store"));
            }
            if req.from_store_id.is_some_and(|f| f != req.store_id) {
                return Err(ApiError::field(
                    "from_store_id",
                    "a transfer leaves the store of store_id",
                ));
            }
            (Some(req.store_id), Some(to))
        }
        _ if req.from_store_id.is_some() || req.to_store_id.is_some() => {
            return Err(ApiError::field(
                "to_store_id",
                "only a transfer names stores to and from",
            ));
        }
        _ => (None, None),
    };
    if let Some(to) = to_store {
        crate::stores::resolve_store_any(&state.db, &to.to_string())
            .await
            .map_err(|_| ApiError::missing("to_store_id", "no such store"))?;
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
            let mut tx = B::begin(pool).await?;
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
            if req.reference_id.is_some() || to_store.is_some() {
                sqlx::query(
                    "UPDATE stock_movements SET reference_id = ?, from_store_id = ?, to_store_id = ?
                     WHERE movement_id = ?",
                )
                .bind(req.reference_id.map(to_i64))
                .bind(from_store.map(to_i64))
                .bind(to_store.map(to_i64))
                .bind(&movement_id)
                .execute(&mut *tx)
                .await?;
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

/// Whether the store carries the active product.
async fn store_carries(db: &Db, store: u64, product: u64) -> ApiResult<bool> {
    let n: i64 = on_db!(db, |pool, B| {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM store_products sp JOIN products p ON p.id = sp.product_id
             WHERE sp.store_id = ? AND sp.product_id = ? AND p.is_active = 1",
        )
        .bind(to_i64(store))
        .bind(to_i64(product))
        .fetch_one(pool)
        .await?
    });
    Ok(n > 0)
}

/// `PUT /api/stores/{id}/products/{product_id}`: the seed's `store_products` columns. Only
/// the fields given change (`selling_price` is needed the first time); `null` clears
/// `location` or `last_restocked`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[schemars(example = crate::examples::store_product())]
#[serde(deny_unknown_fields)]
pub struct StoreProductSettings {
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::or_null_money")]
    pub selling_price: Option<Decimal>,
    /// Sets the store's count: HQ records an adjustment movement of the difference (counted
    /// once; the tills receive it with the download), so stock stays the sum of its movements.
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::or_null_stock")]
    pub stock_quantity: Option<Decimal>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::or_null_stock")]
    pub min_stock: Option<Decimal>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::or_null_stock")]
    pub max_stock: Option<Decimal>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_text::<100>")]
    pub location: Option<Option<String>>,
    #[serde(default)]
    pub is_available: Option<bool>,
    /// From the year 2000 on.
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_record_time")]
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
    if let Some(Some(t)) = req.last_restocked
        && t < crate::ingest::earliest_record()
    {
        return Err(ApiError::field(
            "last_restocked",
            format!("must not be before {}", crate::ingest::EARLIEST_RECORD),
        ));
    }
    let now = Utc::now();
    let user = principal.user_id().map(to_i64);
    let item = crate::error::retry(|| async {
        on_db!(&state.db, |pool, B| {
            let mut tx = B::begin(pool).await?;
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
                        ApiError::conflict_on("selling_price", "is needed the first time a store carries a product")
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
                .bind(restocked.map(B::time))
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            crate::lookups::stamp!(
                B,
                tx,
                crate::lookups::store_scope(store.id),
                state.lookups,
                "UPDATE store_products SET sync_version = ?, updated_at = updated_at WHERE store_id = ? AND product_id IN ({})",
                [to_i64(store.id)],
                [to_i64(product_id)]
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
