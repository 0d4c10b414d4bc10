//! Who is calling: HQ users (argon2id passwords, short-lived signed access tokens, rotating
//! refresh tokens) and store devices (long-lived revocable tokens scoped to one store).
//!
//! Access token: `ka1.<session>.<expiry unix>.<hmac>`, HMAC-SHA256 with the key every instance
//! reads from `gateway_secrets`, so any instance accepts any instance's tokens. Each request
//! also checks the session (and user) in the database, cached for at most
//! [`SESSION_CACHE`], so a logout or a revoked family stops working everywhere within that.
//! Refresh token: `kr1.<random>`, stored as SHA-256; each use spends it atomically
//! (`UPDATE … WHERE spent_at IS NULL`) and issues the next; a spent one presented again
//! revokes its whole session. Device token: `kd1.<random>`, stored as SHA-256.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::SaltString;
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use kasir_schema::roles::{Permission, Role};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::AppState;
use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::on_db;

/// How long a session or device check is trusted without asking the database again.
pub const SESSION_CACHE: Duration = Duration::from_secs(1);

/// argon2id at OWASP's recommendation (19 MiB, t=2, p=1); tests may lower it.
#[derive(Debug, Clone, Copy)]
pub struct PasswordParams {
    pub memory_kib: u32,
    pub iterations: u32,
}

impl Default for PasswordParams {
    fn default() -> Self {
        PasswordParams {
            memory_kib: 19 * 1024,
            iterations: 2,
        }
    }
}

impl PasswordParams {
    pub fn hash(&self, password: &str) -> ApiResult<String> {
        let params =
            Params::new(self.memory_kib, self.iterations, 1, None).map_err(ApiError::internal)?;
        let salt =
            SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(ApiError::internal)?;
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(ApiError::internal)
    }
}

/// Verifies against the parameters stored in the hash itself.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A password an administrator may have: at least 12 characters, letters and digits, not the
/// username, not a well-known one.
pub fn check_password_strength(password: &str, username: &str) -> Result<(), String> {
    const COMMON: [&str; 8] = [
        "password1234",
        "123456789012",
        "qwerty123456",
        "admin1234567",
        "administrator1",
        "kasir1234567",
        "changeme1234",
        "welcome12345",
    ];
    if password.chars().count() < 12 {
        return Err("must be at least 12 characters".into());
    }
    if password.chars().count() > 1024 {
        return Err("must be at most 1024 characters".into());
    }
    if !password.chars().any(|c| c.is_ascii_alphabetic())
        || !password.chars().any(|c| c.is_ascii_digit())
    {
        return Err("must contain a letter (A–Z) and a digit".into());
    }
    let lower = password.to_lowercase();
    if lower.contains(&username.to_lowercase()) && !username.is_empty() {
        return Err("must not contain the username".into());
    }
    if COMMON.contains(&lower.as_str()) {
        return Err("is a well-known password".into());
    }
    Ok(())
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn random_token(prefix: &str) -> String {
    format!("{prefix}.{}", hex::encode(rand::random::<[u8; 32]>()))
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User {
        id: u64,
        role: Role,
        store_id: Option<u64>,
        session: String,
    },
    Device {
        id: u64,
        store_id: u64,
    },
}

impl Principal {
    pub fn user_id(&self) -> Option<u64> {
        match self {
            Principal::User { id, .. } => Some(*id),
            Principal::Device { .. } => None,
        }
    }

    /// The one store this principal is limited to, or `None` for HQ-wide roles.
    pub fn scope(&self) -> Option<u64> {
        match self {
            Principal::User { role, store_id, .. } if role.is_store_scoped() => {
                Some(store_id.unwrap_or(0))
            }
            Principal::User { .. } => None,
            Principal::Device { store_id, .. } => Some(*store_id),
        }
    }

    /// 403 unless this principal may act on `store`.
    pub fn require_store(&self, store: u64) -> ApiResult<()> {
        match self.scope() {
            Some(s) if s != store => Err(ApiError::forbidden(
                "This credential belongs to another store",
            )),
            _ => Ok(()),
        }
    }

    pub fn allows(&self, access: Access) -> bool {
        match self {
            Principal::Device { .. } => matches!(access, Access::Sync | Access::ReadCatalog),
            Principal::User { role, .. } => match access {
                Access::Sync => matches!(
                    role,
                    Role::StoreManager | Role::RegionalManager | Role::Admin | Role::SuperAdmin
                ),
                Access::ReadCatalog => true,
                Access::AdjustStock => role.allows(Permission::AdjustStock),
                Access::MasterData => role.allows(Permission::ManageMasterData),
                Access::Analytics => role.allows(Permission::ViewAnalytics),
                Access::ManageDevices => role.allows(Permission::ManageDevices),
                Access::ManageUsers => matches!(role, Role::Admin | Role::SuperAdmin),
                Access::ManageCustomers => matches!(
                    role,
                    Role::StoreManager | Role::RegionalManager | Role::Admin | Role::SuperAdmin
                ),
            },
        }
    }

    /// 403 unless the role (or device) has `access`.
    pub fn require(&self, access: Access) -> ApiResult<()> {
        if self.allows(access) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "Your role may not {}",
                access.describe()
            )))
        }
    }
}

/// What a route needs (the role × route matrix is [`Principal::allows`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Upload, download and sync status of a store.
    Sync,
    /// Products, categories, prices and stock of a store.
    ReadCatalog,
    /// HQ stock adjustments.
    AdjustStock,
    /// Stores, categories, products.
    MasterData,
    /// Transactions and analytics.
    Analytics,
    /// Device credentials of a store's tills.
    ManageDevices,
    /// HQ user accounts.
    ManageUsers,
    /// Customers at HQ (a store's manager: its own store's).
    ManageCustomers,
}

impl Access {
    pub fn describe(self) -> &'static str {
        match self {
            Access::Sync => "sync a store",
            Access::ReadCatalog => "read the catalog",
            Access::AdjustStock => "adjust stock",
            Access::MasterData => "change master data",
            Access::Analytics => "view transactions and analytics",
            Access::ManageDevices => "manage devices",
            Access::ManageUsers => "manage users",
            Access::ManageCustomers => "change customers",
        }
    }
}

/// Signing key and the per-instance cache of session checks.
#[derive(Debug)]
pub struct Tokens {
    key: Vec<u8>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, Option<Principal>)>>,
}

type HmacSha256 = Hmac<Sha256>;

/// A fresh HMAC-SHA256 with `key` (access tokens, webhook signatures).
pub fn hmac_sha256(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this never fails.
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length")
}

impl Tokens {
    /// Reads (or, on the very first start, creates) the shared signing key.
    pub async fn load(
        db: &Db,
        access_ttl: Duration,
        refresh_ttl: Duration,
    ) -> Result<Tokens, String> {
        let fresh = hex::encode(rand::random::<[u8; 32]>());
        let err = |e: sqlx::Error| format!("signing key: {e}");
        let key: String = on_db!(db, |pool, B| {
            let insert = if B::IS_MYSQL {
                "INSERT IGNORE INTO gateway_secrets (name, secret) VALUES ('access_key', ?)"
            } else {
                "INSERT OR IGNORE INTO gateway_secrets (name, secret) VALUES ('access_key', ?)"
            };
            sqlx::query(insert)
                .bind(&fresh)
                .execute(pool)
                .await
                .map_err(err)?;
            sqlx::query_scalar("SELECT secret FROM gateway_secrets WHERE name = 'access_key'")
                .fetch_one(pool)
                .await
                .map_err(err)?
        });
        Ok(Tokens {
            key: hex::decode(key).map_err(|e| format!("signing key: {e}"))?,
            access_ttl,
            refresh_ttl,
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn mac(&self, payload: &str) -> String {
        let mut m = hmac_sha256(&self.key);
        m.update(payload.as_bytes());
        hex::encode(m.finalize().into_bytes())
    }

    pub fn access_token(&self, session: &str, now: DateTime<Utc>) -> String {
        let exp = now.timestamp() + i64::try_from(self.access_ttl.as_secs()).unwrap_or(3600);
        let payload = format!("ka1.{session}.{exp}");
        let mac = self.mac(&payload);
        format!("{payload}.{mac}")
    }

    /// The session an access token names, if its signature holds and it has not expired.
    fn verify_access(&self, token: &str, now: DateTime<Utc>) -> Option<String> {
        self.verify_access_within(token, now, 0)
    }

    /// [`Tokens::verify_access`], also accepting a token that expired at most `grace_secs` ago.
    fn verify_access_within(
        &self,
        token: &str,
        now: DateTime<Utc>,
        grace_secs: i64,
    ) -> Option<String> {
        let mut parts = token.split('.');
        let (Some("ka1"), Some(session), Some(exp), Some(mac), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        // Constant-time comparison through the MAC type.
        let mut m = hmac_sha256(&self.key);
        m.update(format!("ka1.{session}.{exp}").as_bytes());
        m.verify_slice(&hex::decode(mac).ok()?).ok()?;
        let exp: i64 = exp.parse().ok()?;
        (exp.saturating_add(grace_secs) > now.timestamp()).then(|| session.to_string())
    }

    pub fn forget(&self, key: &str) {
        if let Ok(mut c) = self.cache.lock() {
            c.remove(key);
        }
    }

    fn cached(&self, key: &str) -> Option<Option<Principal>> {
        let c = self.cache.lock().ok()?;
        c.get(key)
            .filter(|(at, _)| at.elapsed() < SESSION_CACHE)
            .map(|(_, p)| p.clone())
    }

    fn remember(&self, key: String, p: Option<Principal>) {
        if let Ok(mut c) = self.cache.lock() {
            if c.len() > 100_000 {
                c.retain(|_, (at, _)| at.elapsed() < SESSION_CACHE);
            }
            c.insert(key, (Instant::now(), p));
        }
    }
}

/// Opens a session for a user and returns (access token, refresh token).
pub async fn open_session(
    state: &AppState,
    user_id: u64,
    ip: Option<String>,
) -> ApiResult<(String, String)> {
    let now = Utc::now();
    let session = uuid::Uuid::now_v7().to_string();
    let refresh = random_token("kr1");
    let expires = now
        + chrono::Duration::from_std(state.tokens.refresh_ttl)
            .unwrap_or_else(|_| chrono::Duration::days(30));
    on_db!(&state.db, |pool, B| {
        let mut tx = B::begin(pool).await?;
        sqlx::query(
            "INSERT INTO auth_sessions (id, user_id, created_at, expires_at, ip_address) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&session)
        .bind(i64::try_from(user_id).unwrap_or(0))
        .bind(now)
        .bind(expires)
        .bind(ip)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?, ?, ?)",
        )
        .bind(sha256_hex(&refresh))
        .bind(&session)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    });
    Ok((state.tokens.access_token(&session, now), refresh))
}

/// Spends a refresh token and issues the next pair. A spent token presented again revokes its
/// session (every token of the family stops working).
pub async fn rotate(state: &AppState, refresh: &str) -> ApiResult<(String, String)> {
    let now = Utc::now();
    let hash = sha256_hex(refresh);
    let next = random_token("kr1");
    let session: Option<String> = on_db!(&state.db, |pool, B| {
        let mut tx = B::begin(pool).await?;
        let spent = sqlx::query(
            "UPDATE refresh_tokens SET spent_at = ? WHERE token_hash = ? AND spent_at IS NULL",
        )
        .bind(now)
        .bind(&hash)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let row = sqlx::query(
            "SELECT r.session_id, s.revoked_at IS NULL AS live, s.expires_at > ? AS fresh
             FROM refresh_tokens r JOIN auth_sessions s ON s.id = r.session_id
             WHERE r.token_hash = ?",
        )
        .bind(now)
        .bind(&hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(ApiError::unauthorized());
        };
        let session: String = row.try_get("session_id")?;
        let live = B::int(&row, "live")? != 0;
        let fresh = B::int(&row, "fresh")? != 0;
        if spent == 0 {
            // Reuse of a rotated token: somebody else holds the family. Revoke it.
            sqlx::query(
                "UPDATE auth_sessions SET revoked_at = ?, revoked_reason = 'refresh token reused'
                 WHERE id = ? AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(&session)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            tracing::warn!(target: "kasir::security", session = %session, "refresh token reused: session revoked");
            state.tokens.forget(&session);
            None
        } else if !live || !fresh {
            tx.commit().await?;
            None
        } else {
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?, ?, ?)",
            )
            .bind(sha256_hex(&next))
            .bind(&session)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Some(session)
        }
    });
    let session = session.ok_or_else(ApiError::unauthorized)?;
    state.tokens.forget(&session);
    Ok((state.tokens.access_token(&session, now), next))
}

/// The seed's refresh (§3.1): an access token, within its life or `refresh_grace_secs` after,
/// whose session is still open (not logged out, revoked or past its refresh lifetime), gets a
/// new access token of the same session. The rotating refresh tokens stay the stronger way.
pub async fn refresh_access(state: &AppState, access: &str) -> ApiResult<String> {
    let now = Utc::now();
    let grace = i64::try_from(state.config.refresh_grace_secs).unwrap_or(i64::MAX);
    let session = state
        .tokens
        .verify_access_within(access, now, grace)
        .ok_or_else(ApiError::unauthorized)?;
    load_session(&state.db, &session, now)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    Ok(state.tokens.access_token(&session, now))
}

/// Ends the session an access token belongs to.
pub async fn logout(state: &AppState, session: &str) -> ApiResult<()> {
    let now = Utc::now();
    on_db!(&state.db, |pool, B| {
        sqlx::query(
            "UPDATE auth_sessions SET revoked_at = ?, revoked_reason = 'logout' WHERE id = ? AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(session)
        .execute(pool)
        .await?;
    });
    state.tokens.forget(session);
    Ok(())
}

async fn load_session(db: &Db, session: &str, now: DateTime<Utc>) -> ApiResult<Option<Principal>> {
    on_db!(db, |pool, B| {
        let row = sqlx::query(
            "SELECT u.id, u.role, u.store_id FROM auth_sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND u.is_active = 1",
        )
        .bind(session)
        .bind(now)
        .fetch_optional(pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id = B::int(&row, "id")?;
        let role: String = row.try_get("role")?;
        let store = B::opt_int(&row, "store_id")?;
        Ok(Some(Principal::User {
            id: u64::try_from(id).unwrap_or(0),
            role: role.parse().map_err(ApiError::internal)?,
            store_id: store.and_then(|s| u64::try_from(s).ok()),
            session: session.to_string(),
        }))
    })
}

async fn load_device(db: &Db, token: &str) -> ApiResult<Option<Principal>> {
    let hash = sha256_hex(token);
    on_db!(db, |pool, B| {
        let row = sqlx::query(
            "SELECT d.id, d.store_id FROM devices d JOIN stores s ON s.id = d.store_id
             WHERE d.token_hash = ? AND d.revoked_at IS NULL AND s.is_active = 1",
        )
        .bind(&hash)
        .fetch_optional(pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id = B::int(&row, "id")?;
        let store = B::int(&row, "store_id")?;
        Ok(Some(Principal::Device {
            id: u64::try_from(id).unwrap_or(0),
            store_id: u64::try_from(store).unwrap_or(0),
        }))
    })
}

/// A new device credential for a store: the token (shown once) and the device id.
pub async fn issue_device(
    state: &AppState,
    store_id: u64,
    name: &str,
    by: Option<u64>,
) -> ApiResult<(u64, String)> {
    let token = random_token("kd1");
    let now = Utc::now();
    let id = on_db!(&state.db, |pool, B| {
        let r = sqlx::query(
            "INSERT INTO devices (store_id, name, token_hash, created_by, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(i64::try_from(store_id).unwrap_or(0))
        .bind(name)
        .bind(sha256_hex(&token))
        .bind(by.and_then(|b| i64::try_from(b).ok()))
        .bind(now)
        .execute(pool)
        .await?;
        r.last_insert_id_u64()
    });
    Ok((id, token))
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty() && t.len() <= 512)
}

/// Resolves the request's credential, or 401.
pub async fn authenticate(state: &AppState, token: &str) -> ApiResult<Principal> {
    let now = Utc::now();
    if token.starts_with("ka1.") {
        let session = state
            .tokens
            .verify_access(token, now)
            .ok_or_else(ApiError::unauthorized)?;
        if let Some(p) = state.tokens.cached(&session) {
            return p.ok_or_else(ApiError::unauthorized);
        }
        let p = load_session(&state.db, &session, now).await?;
        state.tokens.remember(session, p.clone());
        p.ok_or_else(ApiError::unauthorized)
    } else if token.starts_with("kd1.") {
        let key = sha256_hex(token);
        if let Some(p) = state.tokens.cached(&key) {
            return p.ok_or_else(ApiError::unauthorized);
        }
        let p = load_device(&state.db, token).await?;
        state.tokens.remember(key, p.clone());
        p.ok_or_else(ApiError::unauthorized)
    } else {
        Err(ApiError::unauthorized())
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(p.clone());
        }
        let token = bearer(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        let p = authenticate(state, token).await?;
        parts.extensions.insert(p.clone());
        Ok(p)
    }
}

/// Row-id helper shared by both backends.
pub trait LastInsertId {
    fn last_insert_id_u64(&self) -> u64;
}

impl LastInsertId for sqlx::mysql::MySqlQueryResult {
    fn last_insert_id_u64(&self) -> u64 {
        self.last_insert_id()
    }
}

impl LastInsertId for sqlx::sqlite::SqliteQueryResult {
    fn last_insert_id_u64(&self) -> u64 {
        u64::try_from(self.last_insert_rowid()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_access_token_refreshes_within_its_life_or_the_grace_after_it() {
        let tokens = Tokens {
            key: vec![7; 32],
            access_ttl: Duration::from_secs(60),
            refresh_ttl: Duration::from_secs(3600),
            cache: Mutex::new(HashMap::new()),
        };
        let issued = Utc::now() - chrono::Duration::seconds(100);
        let t = tokens.access_token("s1", issued);
        // Expired 40 s ago.
        let now = Utc::now();
        assert_eq!(tokens.verify_access(&t, now), None);
        assert_eq!(
            tokens.verify_access_within(&t, now, 300).as_deref(),
            Some("s1")
        );
        assert_eq!(tokens.verify_access_within(&t, now, 30), None);
        assert_eq!(tokens.verify_access_within(&t, now, 0), None);
        let fresh = tokens.access_token("s2", now);
        assert_eq!(
            tokens.verify_access_within(&fresh, now, 0).as_deref(),
            Some("s2")
        );
        // Another key's token never passes, grace or not.
        let other = Tokens {
            key: vec![8; 32],
            access_ttl: Duration::from_secs(60),
            refresh_ttl: Duration::from_secs(3600),
            cache: Mutex::new(HashMap::new()),
        };
        assert_eq!(other.verify_access_within(&fresh, now, 300), None);
    }

    #[test]
    fn weak_passwords_are_refused() {
        assert!(check_password_strength("short1", "admin").is_err());
        assert!(check_password_strength("onlylettersherefor", "admin").is_err());
        assert!(check_password_strength("admin-secret-2026", "admin").is_err());
        assert!(check_password_strength("password1234", "root").is_err());
        assert!(check_password_strength("Teh-Botol-2026-jkt", "admin").is_ok());
    }

    #[test]
    fn access_tokens_are_signed_and_expire() {
        let t = Tokens {
            key: vec![7; 32],
            access_ttl: Duration::from_secs(60),
            refresh_ttl: Duration::from_secs(600),
            cache: Mutex::new(HashMap::new()),
        };
        let now = Utc::now();
        let tok = t.access_token("s1", now);
        assert_eq!(t.verify_access(&tok, now).as_deref(), Some("s1"));
        assert_eq!(
            t.verify_access(&tok, now + chrono::Duration::seconds(61)),
            None
        );
        let forged = tok.replacen("s1", "s2", 1);
        assert_eq!(t.verify_access(&forged, now), None);
        assert_eq!(t.verify_access("ka1.s1.99999999999.00", now), None);
        assert_eq!(t.verify_access("garbage", now), None);
    }
}
