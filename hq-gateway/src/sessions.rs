//! Sessions (seed §3.1): log in, refresh, log out; creating an account's row.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use kasir_schema::roles::Role;
use kasir_schema::wire::{AuthUser, LoginRequest, LoginResponse, MessageResponse, RefreshResponse};
use serde::Deserialize;
use sqlx::Row;

use crate::AppState;
use crate::auth::{self, LastInsertId, Principal, verify_password};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ClientIp, Json};
use crate::on_db;

pub async fn count_users(db: &crate::db::Db) -> ApiResult<i64> {
    Ok(on_db!(db, |pool, B| {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users")
            .fetch_one(pool)
            .await?
    }))
}

pub async fn create_user(
    state: &AppState,
    username: &str,
    email: &str,
    full_name: &str,
    role: Role,
    store_id: Option<u64>,
    password: &str,
) -> ApiResult<u64> {
    let hash = state.passwords.hash(password)?;
    let now = Utc::now();
    Ok(on_db!(&state.db, |pool, B| {
        sqlx::query(
            "INSERT INTO users (username, email, password_hash, full_name, role, store_id, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(username)
        .bind(email)
        .bind(hash)
        .bind(full_name)
        .bind(role.as_str())
        .bind(store_id.and_then(|s| i64::try_from(s).ok()))
        .bind(now)
        .bind(now)
        .execute(pool)
        .await?
        .last_insert_id_u64()
    }))
}

/// A syntactically valid argon2id hash of nothing anyone knows, so an unknown username costs
/// the same time as a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3m1uGj2s1W3zVnW0dXf8h2o6kq1VfY8YdH5mB6yq0eY";

struct UserRow {
    id: u64,
    username: String,
    full_name: String,
    role: Role,
    store_id: Option<u64>,
    store_code: Option<String>,
    hash: String,
    active: bool,
}

async fn find_user(state: &AppState, username: &str) -> ApiResult<Option<UserRow>> {
    on_db!(&state.db, |pool, B| {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.full_name, u.role, u.store_id, s.store_code, u.password_hash, u.is_active
             FROM users u LEFT JOIN stores s ON s.id = u.store_id WHERE u.username = ?",
        )
        .bind(username)
        .fetch_optional(pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let role: String = r.try_get("role")?;
        Ok(Some(UserRow {
            id: u64::try_from(B::int(&r, "id")?).unwrap_or(0),
            username: r.try_get("username")?,
            full_name: r.try_get("full_name")?,
            role: role.parse().map_err(ApiError::internal)?,
            store_id: B::opt_int(&r, "store_id")?.and_then(|s| u64::try_from(s).ok()),
            store_code: r.try_get("store_code")?,
            hash: r.try_get("password_hash")?,
            active: B::int(&r, "is_active")? != 0,
        }))
    })
}

/// `POST /api/auth/login`
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<LoginRequest>,
) -> ApiResult<axum::Json<LoginResponse>> {
    if req.username.is_empty() || req.username.chars().count() > 100 {
        return Err(ApiError::field("username", "must be 1 to 100 characters"));
    }
    if req.password.is_empty() || req.password.chars().count() > 1024 {
        return Err(ApiError::field("password", "must be 1 to 1024 characters"));
    }
    let user = find_user(&state, &req.username).await?;
    let password = req.password.clone();
    let hash = user
        .as_ref()
        .map_or_else(|| DUMMY_HASH.to_string(), |u| u.hash.clone());
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(ApiError::internal)?;
    let user = match user {
        Some(u) if ok && u.active => u,
        _ => {
            tracing::warn!(target: "kasir::security", username = %req.username, ip = ?ip, "failed login");
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "Invalid username or password",
            ));
        }
    };
    // A store user logging in to a store names their own store (or none).
    if let Some(code) = &req.store_id
        && user.role.is_store_scoped()
        && user.store_code.as_deref() != Some(code.as_str())
    {
        tracing::warn!(target: "kasir::security", username = %req.username, store = %code, "login to a foreign store");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Invalid username or password",
        ));
    }
    let (access, refresh) = auth::open_session(&state, user.id, ip).await?;
    on_db!(&state.db, |pool, B| {
        sqlx::query("UPDATE users SET last_login = ? WHERE id = ?")
            .bind(Utc::now())
            .bind(i64::try_from(user.id).unwrap_or(0))
            .execute(pool)
            .await?;
    });
    tracing::info!(target: "kasir::security", user = user.id, "login");
    Ok(axum::Json(LoginResponse {
        access_token: access,
        token_type: "Bearer".into(),
        expires_in: state.tokens.access_ttl.as_secs(),
        refresh_token: Some(refresh),
        user: AuthUser {
            id: user.id,
            username: user.username,
            full_name: user.full_name,
            role: user.role,
            store_id: user.store_id,
            permissions: user
                .role
                .permissions()
                .into_iter()
                .map(|p| {
                    serde_json::to_value(p)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                })
                .collect(),
        },
    }))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = crate::examples::refresh())]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// `POST /api/auth/refresh`: a refresh token in the body (`refresh_token`) or as the bearer
/// token (spent, and a new pair issued), or, as in the seed, the access token as the bearer
/// (a new access token of the same session, within its life or a short grace after it).
pub async fn refresh(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    crate::extract::OptionalJson(body): crate::extract::OptionalJson<RefreshRequest>,
) -> ApiResult<axum::Json<RefreshResponse>> {
    let in_body = body.and_then(|b| b.refresh_token);
    let token = in_body
        .or_else(|| auth::bearer(&headers).map(str::to_string))
        .ok_or_else(ApiError::unauthorized)?;
    if token.len() > 200 {
        return Err(ApiError::unauthorized());
    }
    if token.starts_with("ka1.") {
        // The seed's way: the access token itself, in the header.
        let access = auth::refresh_access(&state, &token).await?;
        return Ok(axum::Json(RefreshResponse {
            access_token: access,
            token_type: "Bearer".into(),
            expires_in: state.tokens.access_ttl.as_secs(),
            refresh_token: None,
        }));
    }
    if !token.starts_with("kr1.") {
        return Err(ApiError::unauthorized());
    }
    let (access, next) = auth::rotate(&state, &token).await?;
    Ok(axum::Json(RefreshResponse {
        access_token: access,
        token_type: "Bearer".into(),
        expires_in: state.tokens.access_ttl.as_secs(),
        refresh_token: Some(next),
    }))
}

/// `POST /api/auth/logout`
pub async fn logout(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<axum::Json<MessageResponse>> {
    match principal {
        Principal::User { session, id, .. } => {
            auth::logout(&state, &session).await?;
            tracing::info!(target: "kasir::security", user = id, "logout");
            Ok(axum::Json(MessageResponse {
                message: "Successfully logged out".into(),
            }))
        }
        Principal::Device { .. } => Err(ApiError::bad_request(
            "Device credentials are revoked by an administrator, not logged out",
        )),
    }
}
