//! Products as HQ master data: create, read, change, deactivate, with every column of the
//! seed's `products` (§2.2). A store's view of them (price, stock, barcode lookups) is in
//! `stores.rs`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use kasir_schema::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::AppState;
use crate::auth::{Access, LastInsertId, Principal};
use crate::db::{Db, to_i64, to_u64};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, parse_id, text};
use crate::fields::{JsonShape, nullable, opt_text, parse_stored_json};
use crate::on_db;

/// `POST /api/products`.
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
    #[serde(default)]
    pub brand: Option<String>,
    #[serde(default = "pcs")]
    pub unit: String,
    /// Kilograms (the seed's `DECIMAL(8,2)`).
    #[serde(default)]
    pub weight: Option<Decimal>,
    #[serde(default)]
    pub dimensions: Option<String>,
    #[serde(default)]
    pub cost_price: Decimal,
    #[serde(default)]
    pub suggested_price: Option<Decimal>,
    #[serde(default)]
    pub min_price: Option<Decimal>,
    #[serde(default)]
    pub max_price: Option<Decimal>,
    #[serde(default = "yes")]
    pub is_active: bool,
    #[serde(default)]
    pub image_url: Option<String>,
    /// An array of image URLs.
    #[serde(default)]
    pub images: Option<serde_json::Value>,
    /// A JSON object of the product's attributes (colour, size, …).
    #[serde(default)]
    pub attributes: Option<serde_json::Value>,
}

fn pcs() -> String {
    "pcs".into()
}
fn yes() -> bool {
    true
}

/// `PUT /api/products/{id}`: the fields given change; `null` clears an optional one.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductChanges {
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub barcode: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub category_id: Option<Option<u64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub brand: Option<Option<String>>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub weight: Option<Option<Decimal>>,
    #[serde(default, deserialize_with = "nullable")]
    pub dimensions: Option<Option<String>>,
    #[serde(default)]
    pub cost_price: Option<Decimal>,
    #[serde(default, deserialize_with = "nullable")]
    pub suggested_price: Option<Option<Decimal>>,
    #[serde(default, deserialize_with = "nullable")]
    pub min_price: Option<Option<Decimal>>,
    #[serde(default, deserialize_with = "nullable")]
    pub max_price: Option<Option<Decimal>>,
    #[serde(default)]
    pub is_active: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub image_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub images: Option<Option<serde_json::Value>>,
    #[serde(default, deserialize_with = "nullable")]
    pub attributes: Option<Option<serde_json::Value>>,
}

/// A product as every master-data read returns it.
#[derive(Debug, Clone, Serialize)]
pub struct ProductRecord {
    pub id: u64,
    pub barcode: Option<String>,
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub category_id: Option<u64>,
    pub brand: Option<String>,
    pub unit: String,
    pub weight: Option<Decimal>,
    pub dimensions: Option<String>,
    pub cost_price: Decimal,
    pub suggested_price: Option<Decimal>,
    pub min_price: Option<Decimal>,
    pub max_price: Option<Decimal>,
    pub is_active: bool,
    pub image_url: Option<String>,
    pub images: Option<serde_json::Value>,
    pub attributes: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The units a product may be sold in.
pub const UNITS: &[&str] = &["pcs", "kg", "g", "l", "ml", "pack", "box"];

/// What a product's writable columns hold, checked (JSON columns as their stored text).
#[derive(Debug, Clone)]
struct ProductFields {
    sku: String,
    name: String,
    barcode: Option<String>,
    description: Option<String>,
    category_id: Option<u64>,
    brand: Option<String>,
    unit: String,
    weight: Option<Decimal>,
    dimensions: Option<String>,
    cost_price: Decimal,
    suggested_price: Option<Decimal>,
    min_price: Option<Decimal>,
    max_price: Option<Decimal>,
    is_active: bool,
    image_url: Option<String>,
    images: Option<serde_json::Value>,
    attributes: Option<serde_json::Value>,
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

    fn from_record(r: &ProductRecord) -> ProductFields {
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

    fn apply(mut self, c: ProductChanges) -> ProductFields {
        fn set<T>(slot: &mut T, v: Option<T>) {
            if let Some(v) = v {
                *slot = v;
            }
        }
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
    fn check(self) -> ApiResult<(ProductFields, Option<String>, Option<String>)> {
        let barcode = match self.barcode.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(b) if b.len() > 255 || !b.chars().all(|c| c.is_ascii_graphic()) => {
                return Err(ApiError::field(
                    "barcode",
                    "must be 1 to 255 printable characters without spaces",
                ));
            }
            Some(b) => Some(b.to_string()),
        };
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

const PRODUCT_COLUMNS: &str = "id, barcode, sku, name, description, category_id, brand, unit, weight, dimensions,
    cost_price, suggested_price, min_price, max_price, is_active, image_url, CAST(images AS CHAR) AS images,
    CAST(attributes AS CHAR) AS attributes, created_at, updated_at";

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
            Some(r) => Some(ProductRecord {
                id: to_u64(B::int(&r, "id")?),
                barcode: r.try_get("barcode")?,
                sku: r.try_get("sku")?,
                name: r.try_get("name")?,
                description: r.try_get("description")?,
                category_id: B::opt_int(&r, "category_id")?.map(to_u64),
                brand: r.try_get("brand")?,
                unit: r.try_get("unit")?,
                weight: B::opt_money(&r, "weight")?,
                dimensions: r.try_get("dimensions")?,
                cost_price: B::get_money(&r, "cost_price")?,
                suggested_price: B::opt_money(&r, "suggested_price")?,
                min_price: B::opt_money(&r, "min_price")?,
                max_price: B::opt_money(&r, "max_price")?,
                is_active: B::int(&r, "is_active")? != 0,
                image_url: r.try_get("image_url")?,
                images: parse_stored_json(r.try_get("images")?),
                attributes: parse_stored_json(r.try_get("attributes")?),
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            }),
        }
    }))
}

async fn check_category(db: &Db, category: Option<u64>) -> ApiResult<()> {
    let Some(c) = category else { return Ok(()) };
    let n: i64 = on_db!(db, |pool, B| {
        sqlx::query_scalar("SELECT COUNT(*) FROM categories WHERE id = ?")
            .bind(to_i64(c))
            .fetch_one(pool)
            .await?
    });
    if n == 0 {
        return Err(ApiError::field("category_id", "no such category"));
    }
    Ok(())
}

/// `POST /api/products` (master data).
pub async fn create_product(
    State(state): State<AppState>,
    principal: Principal,
    Json(req): Json<NewProduct>,
) -> ApiResult<(StatusCode, axum::Json<ProductRecord>)> {
    principal.require(Access::MasterData)?;
    let (f, images, attributes) = ProductFields::from_new(req).check()?;
    check_category(&state.db, f.category_id).await?;
    let user = principal.user_id().map(to_i64);
    let now = Utc::now();
    let id = on_db!(&state.db, |pool, B| {
        let mut tx = pool.begin().await?;
        let r = sqlx::query(
            "INSERT INTO products (barcode, sku, name, description, category_id, brand, unit, weight, dimensions,
                cost_price, suggested_price, min_price, max_price, is_active, image_url, images, attributes,
                created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        );
        let r = bind_product_fields!(B, r, f, images, attributes)
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
    principal: Principal,
    Path(raw): Path<String>,
) -> ApiResult<axum::Json<ProductRecord>> {
    principal.require(Access::ReadCatalog)?;
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
    principal.require(Access::MasterData)?;
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
    principal.require(Access::MasterData)?;
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
        let mut tx = pool.begin().await?;
        let r = sqlx::query(
            "UPDATE products SET barcode = ?, sku = ?, name = ?, description = ?, category_id = ?, brand = ?,
                unit = ?, weight = ?, dimensions = ?, cost_price = ?, suggested_price = ?, min_price = ?,
                max_price = ?, is_active = ?, image_url = ?, images = ?, attributes = ?, updated_at = ?
             WHERE id = ?",
        );
        let r = bind_product_fields!(B, r, f, images, attributes)
            .bind(now)
            .bind(to_i64(id))
            .execute(&mut *tx)
            .await;
        match r {
            Ok(_) => {}
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                return Err(ApiError::field(
                    "sku",
                    "the SKU or barcode belongs to another product",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        crate::lookups::bump!(B, &mut *tx, crate::lookups::CATALOG, state.lookups);
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
