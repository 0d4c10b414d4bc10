//! Master data for HQ roles: users, categories, product changes, the store list, device
//! revocation. Every change writes an audit row in its transaction.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use kasir_schema::Decimal;
use kasir_schema::roles::Role;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::AppState;
use crate::auth::{Access, LastInsertId, Principal};
use crate::db::{to_i64, to_u64};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, parse_id, text};
use crate::on_db;
use crate::stores::{Created, resolve_store};
use crate::sync::audit;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub full_name: String,
    pub role: Role,
    #[serde(default)]
    pub store_id: Option<u64>,
    pub password: String,
}

/// `POST /api/users` (admin, super_admin): an HQ or store account.
pub async fn create_user(
    State(state): State<AppState>,
    principal: Principal,
    Json(req): Json<NewUser>,
) -> ApiResult<(StatusCode, axum::Json<Created>)> {
    principal.require(Access::ManageUsers)?;
    let username = text("username", &req.username, 100)?;
    if !username
        .chars()
        .all(|c| c.is_alphanumeric() || "-_.@".contains(c))
    {
        return Err(ApiError::field(
            "username",
            "letters, digits and - _ . @ only",
        ));
    }
    let email = text("email", &req.email, 255)?;
    if !email.contains('@') {
        return Err(ApiError::field("email", "must be an email address"));
    }
    let full_name = text("full_name", &req.full_name, 255)?;
    if req.role == Role::SuperAdmin
        && !matches!(
            principal,
            Principal::User {
                role: Role::SuperAdmin,
                ..
            }
        )
    {
        return Err(ApiError::forbidden(
            "Only a super_admin may create a super_admin",
        ));
    }
    match (req.role.is_store_scoped(), req.store_id) {
        (true, None) => return Err(ApiError::field("store_id", "a store role needs its store")),
        (false, Some(_)) => {
            return Err(ApiError::field("store_id", "an HQ-wide role has no store"));
        }
        (true, Some(s)) => {
            resolve_store(&state.db, &s.to_string())
                .await
                .map_err(|_| ApiError::field("store_id", "no such store"))?;
        }
        (false, None) => {}
    }
    crate::auth::check_password_strength(&req.password, &username)
        .map_err(|e| ApiError::field("password", e))?;
    let id = match crate::handlers::create_user(
        &state,
        &username,
        &email,
        &full_name,
        req.role,
        req.store_id,
        &req.password,
    )
    .await
    {
        Ok(id) => id,
        Err(e) if e.retryable => {
            return Err(ApiError::field(
                "username",
                "the username or email is taken",
            ));
        }
        Err(e) => return Err(e),
    };
    on_db!(&state.db, |pool, B| {
        audit(
            pool,
            principal.user_id().map(to_i64),
            req.store_id.map(to_i64),
            "user.create",
            "users",
            Some(to_i64(id)),
            serde_json::json!({ "username": username, "role": req.role.as_str() }),
        )
        .await?;
    });
    tracing::info!(target: "kasir::security", user = id, role = req.role.as_str(), "user created");
    Ok((StatusCode::CREATED, axum::Json(Created { id })))
}

#[derive(Debug, Serialize)]
pub struct UserItem {
    pub id: u64,
    pub username: String,
    pub full_name: String,
    pub role: String,
    pub store_id: Option<u64>,
    pub is_active: bool,
}

/// `GET /api/users` (admin, super_admin).
pub async fn list_users(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<axum::Json<Vec<UserItem>>> {
    principal.require(Access::ManageUsers)?;
    let out = on_db!(&state.db, |pool, B| {
        let rows = sqlx::query("SELECT id, username, full_name, role, store_id, is_active FROM users ORDER BY id LIMIT 10000")
            .fetch_all(pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(UserItem {
                id: to_u64(B::int(r, "id")?),
                username: r.try_get("username")?,
                full_name: r.try_get("full_name")?,
                role: r.try_get("role")?,
                store_id: B::opt_int(r, "store_id")?.map(to_u64),
                is_active: B::int(r, "is_active")? != 0,
            });
        }
        out
    });
    Ok(axum::Json(out))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parent_id: Option<u64>,
    #[serde(default)]
    pub sort_order: i32,
}

/// `POST /api/categories` (master data).
pub async fn create_category(
    State(state): State<AppState>,
    principal: Principal,
    Json(req): Json<NewCategory>,
) -> ApiResult<(StatusCode, axum::Json<Created>)> {
    principal.require(Access::MasterData)?;
    let name = text("name", &req.name, 255)?;
    if req
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 2000)
    {
        return Err(ApiError::field(
            "description",
            "must be at most 2000 characters",
        ));
    }
    let now = Utc::now();
    let id = on_db!(&state.db, |pool, B| {
        let mut tx = pool.begin().await?;
        if let Some(p) = req.parent_id {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM categories WHERE id = ?")
                .bind(to_i64(p))
                .fetch_one(&mut *tx)
                .await?;
            if n == 0 {
                return Err(ApiError::field("parent_id", "no such category"));
            }
        }
        let id = sqlx::query(
            "INSERT INTO categories (name, description, parent_id, sort_order, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&name)
        .bind(&req.description)
        .bind(req.parent_id.map(to_i64))
        .bind(req.sort_order)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .last_insert_id_u64();
        crate::lookups::bump!(B, &mut *tx, crate::lookups::CATALOG, state.lookups);
        audit(
            &mut *tx,
            principal.user_id().map(to_i64),
            None,
            "category.create",
            "categories",
            Some(to_i64(id)),
            serde_json::json!({ "name": name }),
        )
        .await?;
        tx.commit().await?;
        id
    });
    state.lookups.catalog_changed();
    Ok((StatusCode::CREATED, axum::Json(Created { id })))
}

#[derive(Debug, Serialize)]
pub struct CategoryItem {
    pub id: u64,
    pub name: String,
    pub parent_id: Option<u64>,
    pub sort_order: i64,
    pub is_active: bool,
}

/// `GET /api/categories` (any credential).
pub async fn list_categories(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<axum::Json<Vec<CategoryItem>>> {
    principal.require(Access::ReadCatalog)?;
    let out = on_db!(&state.db, |pool, B| {
        let rows = sqlx::query("SELECT id, name, parent_id, sort_order, is_active FROM categories ORDER BY sort_order, name")
            .fetch_all(pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(CategoryItem {
                id: to_u64(B::int(r, "id")?),
                name: r.try_get("name")?,
                parent_id: B::opt_int(r, "parent_id")?.map(to_u64),
                sort_order: B::int(r, "sort_order")?,
                is_active: B::int(r, "is_active")? != 0,
            });
        }
        out
    });
    Ok(axum::Json(out))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductChanges {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub cost_price: Option<Decimal>,
    #[serde(default)]
    pub is_active: Option<bool>,
}

/// `PUT /api/products/{id}` (master data): change the given fields.
pub async fn update_product(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
    Json(req): Json<ProductChanges>,
) -> ApiResult<axum::Json<Created>> {
    principal.require(Access::MasterData)?;
    let id = parse_id(&raw, "product")?;
    let name = req
        .name
        .as_deref()
        .map(|n| text("name", n, 255))
        .transpose()?;
    if let Some(c) = req.cost_price {
        if c < Decimal::ZERO {
            return Err(ApiError::field("cost_price", "must not be negative"));
        }
        crate::db::check_money(c).map_err(|e| ApiError::field("cost_price", e.message))?;
    }
    change_product(
        &state,
        &principal,
        id,
        name,
        req.description,
        req.cost_price,
        req.is_active,
        "product.update",
    )
    .await?;
    Ok(axum::Json(Created { id }))
}

/// `DELETE /api/products/{id}` (master data): the product is deactivated (sales keep pointing
/// at it); stores stop seeing it on their next download.
pub async fn delete_product(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
) -> ApiResult<axum::Json<Created>> {
    principal.require(Access::MasterData)?;
    let id = parse_id(&raw, "product")?;
    change_product(
        &state,
        &principal,
        id,
        None,
        None,
        None,
        Some(false),
        "product.deactivate",
    )
    .await?;
    Ok(axum::Json(Created { id }))
}

#[allow(clippy::too_many_arguments)]
async fn change_product(
    state: &AppState,
    principal: &Principal,
    id: u64,
    name: Option<String>,
    description: Option<String>,
    cost_price: Option<Decimal>,
    is_active: Option<bool>,
    action: &str,
) -> ApiResult<()> {
    let now = Utc::now();
    on_db!(&state.db, |pool, B| {
        let mut tx = pool.begin().await?;
        let cost = cost_price.map(B::money).transpose()?;
        let n = sqlx::query(
            "UPDATE products SET name = COALESCE(?, name), description = COALESCE(?, description),
                cost_price = COALESCE(?, cost_price), is_active = COALESCE(?, is_active), updated_at = ?
             WHERE id = ?",
        )
        .bind(&name)
        .bind(&description)
        .bind(cost)
        .bind(is_active)
        .bind(now)
        .bind(to_i64(id))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(ApiError::not_found(format!("product {id}")));
        }
        crate::lookups::bump!(B, &mut *tx, crate::lookups::CATALOG, state.lookups);
        audit(&mut *tx, principal.user_id().map(to_i64), None, action, "products", Some(to_i64(id)),
            serde_json::json!({ "name": name, "cost_price": cost_price.map(|c| c.to_string()), "is_active": is_active })).await?;
        tx.commit().await?;
    });
    state.lookups.catalog_changed();
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct StoreItem {
    pub id: u64,
    pub store_code: String,
    pub store_name: String,
    pub last_sync: Option<chrono::DateTime<Utc>>,
}

/// `GET /api/stores`: every store for HQ-wide roles, one's own otherwise.
pub async fn list_stores(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<axum::Json<Vec<StoreItem>>> {
    principal.require(Access::ReadCatalog)?;
    let scope = principal.scope().map(to_i64);
    let out = on_db!(&state.db, |pool, B| {
        let rows = sqlx::query(
            "SELECT id, store_code, store_name, last_sync FROM stores WHERE is_active = 1 AND (? IS NULL OR id = ?) ORDER BY store_code",
        )
        .bind(scope)
        .bind(scope)
        .fetch_all(pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(StoreItem {
                id: to_u64(B::int(r, "id")?),
                store_code: r.try_get("store_code")?,
                store_name: r.try_get("store_name")?,
                last_sync: r.try_get("last_sync")?,
            });
        }
        out
    });
    Ok(axum::Json(out))
}

/// `DELETE /api/stores/{id}/devices/{device_id}`: the device's token stops working (on this
/// instance at once, on others within a second).
pub async fn revoke_device(
    State(state): State<AppState>,
    principal: Principal,
    Path((raw_store, raw_device)): Path<(String, String)>,
) -> ApiResult<axum::Json<Created>> {
    principal.require(Access::ManageDevices)?;
    let store = resolve_store(&state.db, &raw_store).await?;
    principal.require_store(store.id)?;
    let device = parse_id(&raw_device, "device")?;
    let now = Utc::now();
    let hash: String = on_db!(&state.db, |pool, B| {
        let mut tx = pool.begin().await?;
        let hash: Option<String> =
            sqlx::query_scalar("SELECT token_hash FROM devices WHERE id = ? AND store_id = ?")
                .bind(to_i64(device))
                .bind(to_i64(store.id))
                .fetch_optional(&mut *tx)
                .await?;
        let Some(hash) = hash else {
            return Err(ApiError::not_found(format!(
                "device {device} of store {}",
                store.id
            )));
        };
        sqlx::query("UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
            .bind(now)
            .bind(to_i64(device))
            .execute(&mut *tx)
            .await?;
        audit(
            &mut *tx,
            principal.user_id().map(to_i64),
            Some(to_i64(store.id)),
            "device.revoke",
            "devices",
            Some(to_i64(device)),
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        hash
    });
    state.tokens.forget(&hash);
    tracing::info!(target: "kasir::security", store = store.id, device, "device revoked");
    Ok(axum::Json(Created { id: device }))
}
