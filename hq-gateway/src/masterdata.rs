//! Master data for HQ roles: users, categories, product changes, the store list, device
//! revocation. Every change writes an audit row in its transaction.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use kasir_schema::roles::Role;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::AppState;
use crate::auth::{LastInsertId, Principal};
use crate::db::{to_i64, to_u64};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, parse_id, text};
use crate::on_db;
use crate::stores::{Created, resolve_store};

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = crate::examples::new_user())]
#[schemars(transform = crate::openapi::user_roles)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    #[schemars(length(min = 3, max = 100), regex(pattern = r"^[A-Za-z0-9._@-]+$"))]
    pub username: String,
    #[schemars(schema_with = "kasir_schema::api_schema::email")]
    pub email: String,
    #[schemars(schema_with = "kasir_schema::api_schema::text::<255>")]
    pub full_name: String,
    pub role: Role,
    #[serde(default)]
    pub store_id: Option<u64>,
    #[schemars(length(min = 12, max = 1024), regex(pattern = kasir_schema::api_schema::PASSWORD_PATTERN))]
    pub password: String,
    /// Extra permissions beyond the role's (a JSON object or an array of names).
    #[serde(default)]
    pub permissions: Option<serde_json::Value>,
    #[serde(default = "yes")]
    pub is_active: bool,
}

fn yes() -> bool {
    true
}

/// The seed's HQ `users.role` has no `manager`: that role is a till's (a lane's own users); a
/// store's manager at HQ is `store_manager`.
fn hq_role(role: Role) -> ApiResult<()> {
    if role == Role::Manager {
        return Err(ApiError::field(
            "role",
            "manager is a till role; an HQ account of a store's manager is store_manager",
        ));
    }
    Ok(())
}

/// The stored text of a `permissions` value: a JSON object or an array of names.
fn permissions_json(v: &serde_json::Value) -> ApiResult<String> {
    crate::fields::json("permissions", v, crate::fields::JsonShape::Strings)
        .or_else(|_| crate::fields::json("permissions", v, crate::fields::JsonShape::Object))
        .map_err(|_| {
            ApiError::field(
                "permissions",
                "must be a JSON object or an array of permission names, at most 16 KiB",
            )
        })
}

/// `POST /api/users` (admin, super_admin): an HQ or store account.
pub async fn create_user(
    State(state): State<AppState>,
    principal: Principal,
    Json(req): Json<NewUser>,
) -> ApiResult<(StatusCode, axum::Json<Created>)> {
    let username = req.username.clone();
    if !(3..=100).contains(&username.len())
        || !username
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.@".contains(&c))
    {
        return Err(ApiError::field(
            "username",
            "3 to 100 letters (A–Z), digits and - _ . @",
        ));
    }
    let email = crate::fields::email("email", &req.email)?;
    let full_name = text("full_name", &req.full_name, 255)?;
    let permissions = req.permissions.as_ref().map(permissions_json).transpose()?;
    hq_role(req.role)?;
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
                .map_err(|_| ApiError::missing("store_id", "no such store"))?;
        }
        (false, None) => {}
    }
    crate::auth::check_password_strength(&req.password, &username)
        .map_err(|e| ApiError::field("password", e))?;
    let id = match crate::sessions::create_user(
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
            return Err(ApiError::conflict_on(
                "username",
                "the username or email is taken",
            ));
        }
        Err(e) => return Err(e),
    };
    on_db!(&state.db, |pool, B| {
        sqlx::query("UPDATE users SET permissions = ?, is_active = ? WHERE id = ?")
            .bind(&permissions)
            .bind(req.is_active)
            .bind(to_i64(id))
            .execute(pool)
            .await?;
        crate::audit::write(
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

/// An account as `GET /api/users` returns it: the seed's `users` columns but the password.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(example = crate::examples::user_item())]
pub struct UserItem {
    pub id: u64,
    pub username: String,
    pub email: String,
    pub full_name: String,
    pub role: String,
    pub store_id: Option<u64>,
    pub permissions: Option<serde_json::Value>,
    pub is_active: bool,
    pub email_verified_at: Option<chrono::DateTime<Utc>>,
    pub last_login: Option<chrono::DateTime<Utc>>,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
}

/// `GET /api/users` (admin, super_admin).
pub async fn list_users(State(state): State<AppState>) -> ApiResult<axum::Json<Vec<UserItem>>> {
    let out = on_db!(&state.db, |pool, B| {
        let rows = sqlx::query(
            "SELECT id, username, email, full_name, role, store_id, CAST(permissions AS CHAR) AS permissions,
                is_active, email_verified_at, last_login, created_at, updated_at
             FROM users ORDER BY id LIMIT 10000",
        )
        .fetch_all(pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(UserItem {
                id: to_u64(B::int(r, "id")?),
                username: r.try_get("username")?,
                email: r.try_get("email")?,
                full_name: r.try_get("full_name")?,
                role: r.try_get("role")?,
                store_id: B::opt_int(r, "store_id")?.map(to_u64),
                permissions: crate::fields::parse_stored_json(r.try_get("permissions")?),
                is_active: B::int(r, "is_active")? != 0,
                email_verified_at: r.try_get("email_verified_at")?,
                last_login: r.try_get("last_login")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            });
        }
        out
    });
    Ok(axum::Json(out))
}

/// `PUT /api/users/{id}`: the fields given change; `null` clears `store_id` (for an HQ-wide
/// role) or `permissions`. A new `password` must be strong; it ends the user's sessions.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = crate::examples::user_changes())]
#[schemars(transform = crate::openapi::user_role_changes)]
#[serde(deny_unknown_fields)]
pub struct UserChanges {
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::or_null_email")]
    pub email: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::or_null_text::<255>")]
    pub full_name: Option<String>,
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default, deserialize_with = "crate::fields::nullable")]
    pub store_id: Option<Option<u64>>,
    #[serde(default, deserialize_with = "crate::fields::nullable")]
    pub permissions: Option<Option<serde_json::Value>>,
    #[serde(default)]
    pub is_active: Option<bool>,
    #[serde(default)]
    #[schemars(length(min = 12, max = 1024), regex(pattern = kasir_schema::api_schema::PASSWORD_PATTERN))]
    pub password: Option<String>,
}

/// `PUT /api/users/{id}` (admin, super_admin).
pub async fn update_user(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
    Json(req): Json<UserChanges>,
) -> ApiResult<axum::Json<Created>> {
    let id = parse_id(&raw, "user")?;
    let current = on_db!(&state.db, |pool, B| {
        let r = sqlx::query("SELECT username, role, store_id FROM users WHERE id = ?")
            .bind(to_i64(id))
            .fetch_optional(pool)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("user {id}")))?;
        let role: String = r.try_get("role")?;
        (
            r.try_get::<String, _>("username")?,
            role.parse::<Role>().map_err(ApiError::internal)?,
            B::opt_int(&r, "store_id")?.map(to_u64),
        )
    });
    let (username, old_role, old_store) = current;
    let is_super = matches!(
        principal,
        Principal::User {
            role: Role::SuperAdmin,
            ..
        }
    );
    let role = req.role.unwrap_or(old_role);
    hq_role(role)?;
    // The account making the request cannot lock itself out: another administrator changes
    // its role, store, password or deactivates it.
    if principal.user_id() == Some(id)
        && (role != old_role
            || req.is_active == Some(false)
            || req.password.is_some()
            || req.store_id.is_some_and(|s| s != old_store))
    {
        return Err(ApiError::conflict_on(
            "id",
            "you cannot change your own role, store or password, or deactivate yourself; another administrator can",
        ));
    }
    if (role == Role::SuperAdmin || old_role == Role::SuperAdmin) && role != old_role && !is_super {
        return Err(ApiError::forbidden(
            "Only a super_admin may grant or take super_admin",
        ));
    }
    let store = req.store_id.unwrap_or(old_store);
    match (role.is_store_scoped(), store) {
        (true, None) => return Err(ApiError::field("store_id", "a store role needs its store")),
        (false, Some(_)) => {
            return Err(ApiError::field("store_id", "an HQ-wide role has no store"));
        }
        (true, Some(s)) => {
            resolve_store(&state.db, &s.to_string())
                .await
                .map_err(|_| ApiError::missing("store_id", "no such store"))?;
        }
        (false, None) => {}
    }
    let email = req
        .email
        .as_deref()
        .map(|e| crate::fields::email("email", e))
        .transpose()?;
    let full_name = req
        .full_name
        .as_deref()
        .map(|n| text("full_name", n, 255))
        .transpose()?;
    let permissions = match &req.permissions {
        Some(Some(p)) => Some(Some(permissions_json(p)?)),
        Some(None) => Some(None),
        None => None,
    };
    let hash = match &req.password {
        Some(p) => {
            crate::auth::check_password_strength(p, &username)
                .map_err(|e| ApiError::field("password", e))?;
            Some(state.passwords.hash(p)?)
        }
        None => None,
    };
    let now = Utc::now();
    let sessions: Vec<String> = on_db!(&state.db, |pool, B| {
        let mut tx = B::begin(pool).await?;
        let r = sqlx::query(
            "UPDATE users SET email = COALESCE(?, email), full_name = COALESCE(?, full_name), role = ?, store_id = ?,
                permissions = CASE WHEN ? THEN ? ELSE permissions END, is_active = COALESCE(?, is_active),
                password_hash = COALESCE(?, password_hash), updated_at = ?
             WHERE id = ?",
        )
        .bind(&email)
        .bind(&full_name)
        .bind(role.as_str())
        .bind(store.map(to_i64))
        .bind(permissions.is_some())
        .bind(permissions.clone().flatten())
        .bind(req.is_active)
        .bind(&hash)
        .bind(now)
        .bind(to_i64(id))
        .execute(&mut *tx)
        .await;
        match r {
            Ok(_) => {}
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                return Err(ApiError::field("email", "belongs to another account"));
            }
            Err(e) => return Err(e.into()),
        }
        // A new password, a deactivation or a role or store change ends the open sessions.
        let ends = hash.is_some()
            || req.is_active == Some(false)
            || role != old_role
            || store != old_store;
        let mut ended = Vec::new();
        if ends {
            let rows = sqlx::query(
                "SELECT id FROM auth_sessions WHERE user_id = ? AND revoked_at IS NULL",
            )
            .bind(to_i64(id))
            .fetch_all(&mut *tx)
            .await?;
            for r in &rows {
                ended.push(r.try_get::<String, _>("id")?);
            }
            sqlx::query(
                "UPDATE auth_sessions SET revoked_at = ?, revoked_reason = 'account changed'
                 WHERE user_id = ? AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(to_i64(id))
            .execute(&mut *tx)
            .await?;
        }
        crate::audit::write(&mut *tx, principal.user_id().map(to_i64), store.map(to_i64), "user.update", "users", Some(to_i64(id)),
            serde_json::json!({ "role": role.as_str(), "is_active": req.is_active, "password_changed": hash.is_some() })).await?;
        tx.commit().await?;
        ended
    });
    for s in &sessions {
        state.tokens.forget(s);
    }
    tracing::info!(target: "kasir::security", user = id, role = role.as_str(), "user changed");
    Ok(axum::Json(Created { id }))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = crate::examples::new_category())]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    #[schemars(schema_with = "kasir_schema::api_schema::text::<255>")]
    pub name: String,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_text::<2000>")]
    pub description: Option<String>,
    #[serde(default)]
    pub parent_id: Option<u64>,
    #[serde(default)]
    pub sort_order: i32,
    #[serde(default = "yes")]
    pub is_active: bool,
}

/// `POST /api/categories` (master data).
pub async fn create_category(
    State(state): State<AppState>,
    principal: Principal,
    Json(req): Json<NewCategory>,
) -> ApiResult<(StatusCode, axum::Json<Created>)> {
    let name = text("name", &req.name, 255)?;
    let description = crate::fields::opt_text("description", req.description.as_deref(), 2000)?;
    let now = Utc::now();
    let id = on_db!(&state.db, |pool, B| {
        let mut tx = B::begin(pool).await?;
        if let Some(p) = req.parent_id {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM categories WHERE id = ?")
                .bind(to_i64(p))
                .fetch_one(&mut *tx)
                .await?;
            if n == 0 {
                return Err(ApiError::missing("parent_id", "no such category"));
            }
        }
        let id = sqlx::query(
            "INSERT INTO categories (name, description, parent_id, sort_order, is_active, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&name)
        .bind(&description)
        .bind(req.parent_id.map(to_i64))
        .bind(req.sort_order)
        .bind(req.is_active)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .last_insert_id_u64();
        crate::lookups::stamp!(
            B,
            tx,
            crate::lookups::CATALOG,
            state.lookups,
            "UPDATE categories SET sync_version = ?, updated_at = updated_at WHERE id IN ({})",
            [],
            [to_i64(id)]
        );
        crate::audit::write(
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

/// A category as `GET /api/categories` returns it: the seed's `categories` columns.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(example = crate::examples::category_item())]
pub struct CategoryItem {
    pub id: u64,
    pub name: String,
    pub description: Option<String>,
    pub parent_id: Option<u64>,
    pub sort_order: i64,
    pub is_active: bool,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
}

/// `GET /api/categories` (any credential).
pub async fn list_categories(
    State(state): State<AppState>,
) -> ApiResult<axum::Json<Vec<CategoryItem>>> {
    let out = on_db!(&state.db, |pool, B| {
        let rows = sqlx::query(
            "SELECT id, name, description, parent_id, sort_order, is_active, created_at, updated_at
             FROM categories ORDER BY sort_order, name",
        )
        .fetch_all(pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(CategoryItem {
                id: to_u64(B::int(r, "id")?),
                name: r.try_get("name")?,
                description: r.try_get("description")?,
                parent_id: B::opt_int(r, "parent_id")?.map(to_u64),
                sort_order: B::int(r, "sort_order")?,
                is_active: B::int(r, "is_active")? != 0,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            });
        }
        out
    });
    Ok(axum::Json(out))
}

/// `PUT /api/categories/{id}`: the fields given change; `null` clears `description` or
/// `parent_id`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = crate::examples::category_changes())]
#[serde(deny_unknown_fields)]
pub struct CategoryChanges {
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::or_null_text::<255>")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::fields::nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_text::<2000>")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::fields::nullable")]
    pub parent_id: Option<Option<u64>>,
    #[serde(default)]
    pub sort_order: Option<i32>,
    #[serde(default)]
    pub is_active: Option<bool>,
}

/// `PUT /api/categories/{id}` (master data).
pub async fn update_category(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
    Json(req): Json<CategoryChanges>,
) -> ApiResult<axum::Json<Created>> {
    let id = parse_id(&raw, "category")?;
    let name = req
        .name
        .as_deref()
        .map(|n| text("name", n, 255))
        .transpose()?;
    let description = match &req.description {
        Some(d) => Some(crate::fields::opt_text("description", d.as_deref(), 2000)?),
        None => None,
    };
    if req.parent_id == Some(Some(id)) {
        return Err(ApiError::conflict_on(
            "parent_id",
            "a category cannot be its own parent",
        ));
    }
    let now = Utc::now();
    on_db!(&state.db, |pool, B| {
        let mut tx = B::begin(pool).await?;
        let row = sqlx::query("SELECT name, description, parent_id, sort_order, is_active FROM categories WHERE id = ?")
            .bind(to_i64(id))
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("category {id}")))?;
        let parent = match req.parent_id {
            Some(p) => p,
            None => B::opt_int(&row, "parent_id")?.map(to_u64),
        };
        // The new parent must exist and must not sit below this category (no cycles).
        let mut at = parent;
        let mut steps = 0;
        while let Some(p) = at {
            if p == id {
                return Err(ApiError::conflict_on(
                    "parent_id",
                    "would make the categories a cycle",
                ));
            }
            steps += 1;
            if steps > 64 {
                return Err(ApiError::conflict_on(
                    "parent_id",
                    "categories nest at most 64 deep",
                ));
            }
            let up: Option<Option<i64>> =
                sqlx::query_scalar("SELECT CAST(parent_id AS SIGNED) FROM categories WHERE id = ?")
                    .bind(to_i64(p))
                    .fetch_optional(&mut *tx)
                    .await?;
            match up {
                None => return Err(ApiError::missing("parent_id", "no such category")),
                Some(next) => at = next.map(to_u64),
            }
        }
        sqlx::query(
            "UPDATE categories SET name = ?, description = ?, parent_id = ?, sort_order = ?, is_active = ?, updated_at = ?
             WHERE id = ?",
        )
        .bind(name.unwrap_or(row.try_get("name")?))
        .bind(description.unwrap_or(row.try_get("description")?))
        .bind(parent.map(to_i64))
        .bind(req.sort_order.map_or(B::int(&row, "sort_order")?, i64::from))
        .bind(req.is_active.unwrap_or(B::int(&row, "is_active")? != 0))
        .bind(now)
        .bind(to_i64(id))
        .execute(&mut *tx)
        .await?;
        crate::lookups::stamp!(
            B,
            tx,
            crate::lookups::CATALOG,
            state.lookups,
            "UPDATE categories SET sync_version = ?, updated_at = updated_at WHERE id IN ({})",
            [],
            [to_i64(id)]
        );
        crate::audit::write(
            &mut *tx,
            principal.user_id().map(to_i64),
            None,
            "category.update",
            "categories",
            Some(to_i64(id)),
            serde_json::json!({ "parent_id": parent, "is_active": req.is_active }),
        )
        .await?;
        tx.commit().await?;
    });
    state.lookups.catalog_changed();
    Ok(axum::Json(Created { id }))
}

/// `GET /api/stores`: every open store for HQ-wide roles, one's own otherwise, with every
/// column of the seed's `stores` and when each last uploaded.
pub async fn list_stores(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<axum::Json<Vec<crate::stores::StoreRecord>>> {
    Ok(axum::Json(
        crate::stores::store_records(&state.db, principal.scope(), None, true).await?,
    ))
}

/// `DELETE /api/stores/{id}/devices/{device_id}`: the device's token stops working (on this
/// instance at once, on others within a second).
pub async fn revoke_device(
    State(state): State<AppState>,
    principal: Principal,
    Path((raw_store, raw_device)): Path<(String, String)>,
) -> ApiResult<axum::Json<Created>> {
    let store = resolve_store(&state.db, &raw_store).await?;
    principal.require_store(store.id)?;
    let device = parse_id(&raw_device, "device")?;
    let now = Utc::now();
    let hash: String = on_db!(&state.db, |pool, B| {
        let mut tx = B::begin(pool).await?;
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
        crate::audit::write(
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
