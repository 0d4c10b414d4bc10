//! Stores (every column of the seed's `stores`), their devices, and how a path names a store.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use kasir_schema::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::AppState;
use crate::auth::{LastInsertId, Principal};
use crate::db::Db;
use crate::db::{to_i64, to_u64};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, text};
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

/// `POST /api/stores`: every column of the seed's `stores` (§2.2) and the pricing the tills
/// need.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = crate::examples::new_store())]
#[serde(deny_unknown_fields)]
pub struct NewStore {
    #[schemars(schema_with = "kasir_schema::api_schema::new_store_code")]
    pub store_code: String,
    #[schemars(schema_with = "kasir_schema::api_schema::text::<255>")]
    pub store_name: String,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_text::<2000>")]
    pub address: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_text::<100>")]
    pub city: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_text::<100>")]
    pub province: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_postal_code")]
    pub postal_code: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_phone")]
    pub phone: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_email")]
    pub email: Option<String>,
    #[serde(default)]
    pub manager_id: Option<u64>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::tax_rate")]
    pub tax_rate: Decimal,
    #[serde(default = "yes")]
    pub tax_inclusive: bool,
    /// *(kasir)* Cash is rounded to this increment (default Rp 100).
    #[serde(default = "hundred")]
    #[schemars(schema_with = "kasir_schema::api_schema::money")]
    pub cash_rounding: Decimal,
    #[serde(default = "idr")]
    #[schemars(schema_with = "kasir_schema::api_schema::currency")]
    pub currency: String,
    #[serde(default = "jakarta")]
    #[schemars(schema_with = "kasir_schema::api_schema::timezone")]
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
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[schemars(example = crate::examples::store_changes())]
#[serde(deny_unknown_fields)]
pub struct StoreChanges {
    #[serde(default)]
    pub store_code: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::or_null_text::<255>")]
    pub store_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_text::<2000>")]
    pub address: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_text::<100>")]
    pub city: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_text::<100>")]
    pub province: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_postal_code")]
    pub postal_code: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_phone")]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_email")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub manager_id: Option<Option<u64>>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::or_null_tax_rate")]
    pub tax_rate: Option<Decimal>,
    #[serde(default)]
    pub tax_inclusive: Option<bool>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::or_null_money")]
    pub cash_rounding: Option<Decimal>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::or_null_currency")]
    pub currency: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::or_null_timezone")]
    pub timezone: Option<String>,
    #[serde(default)]
    pub is_active: Option<bool>,
}

/// A store as every read returns it: the seed's columns and ours.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(example = crate::examples::store_record())]
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
    #[schemars(schema_with = "kasir_schema::api_schema::number")]
    pub tax_rate: Decimal,
    pub tax_inclusive: bool,
    #[schemars(schema_with = "kasir_schema::api_schema::number")]
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
        use crate::fields::set;
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
        let shaped = |field: &str, v: &Option<String>, max, f| {
            crate::fields::opt_shaped(field, v.as_deref(), max, f)
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
            postal_code: shaped(
                "postal_code",
                &self.postal_code,
                10,
                crate::fields::postal_code,
            )?,
            phone: shaped("phone", &self.phone, 20, crate::fields::phone)?,
            email: shaped("email", &self.email, 255, crate::fields::email)?,
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
    crate::fields::must_exist(
        db,
        "SELECT COUNT(*) FROM users WHERE id = ? AND is_active = 1",
        manager,
        "manager_id",
        "no such active user",
    )
    .await
}

/// `POST /api/stores` (master data).
pub async fn create_store(
    State(state): State<AppState>,
    principal: Principal,
    Json(req): Json<NewStore>,
) -> ApiResult<(StatusCode, axum::Json<StoreRecord>)> {
    // Taken as written: a code is part of every transaction number, spaces are not.
    let code = req.store_code.clone();
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
        let mut tx = B::begin(pool).await?;
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
                return Err(ApiError::conflict_on(
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
        let mut tx = B::begin(pool).await?;
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

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = crate::examples::new_device())]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    #[schemars(schema_with = "kasir_schema::api_schema::text::<100>")]
    pub name: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
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

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Created {
    pub id: u64,
}
