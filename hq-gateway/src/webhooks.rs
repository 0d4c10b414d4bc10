//! Webhooks: `stock.low` (a product of a store fell to or below its minimum) and
//! `sync.failed` (an upload failed or refused records), delivered to registered endpoints from
//! a queue in the database.
//!
//! - An event is queued in the transaction of its cause (none for a rolled-back upload), one
//!   row per subscribed endpoint, keyed `(endpoint, event id)`.
//! - Every gateway instance runs a worker. It claims a due row with
//!   `UPDATE … SET locked_by = me, locked_until = now + 30 s WHERE id = ? AND status = 'pending'
//!   AND (locked_until IS NULL OR locked_until < now)`; only one instance can win that, so two
//!   instances never send the same row at the same time. A delivered row is marked in the same
//!   step that releases it. Only a crash between the receiver's answer and that mark makes a
//!   second delivery possible (after the lock expires), which is why every request carries the
//!   event id in `X-Kasir-Delivery` for the receiver to drop a repeat.
//! - `POST` of `{"id", "event", "created_at", "data"}` with `X-Kasir-Event`, `X-Kasir-Delivery`
//!   and `X-Kasir-Signature: sha256=<hex HMAC-SHA256 of the body with the endpoint's secret>`.
//!   A 2xx answer delivers; anything else is retried after 2, 4, 8 … s (at most 1 h) and given
//!   up after `MAX_ATTEMPTS`.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::AppState;
use crate::auth::{LastInsertId, Principal};
use crate::db::Db;
use crate::db::to_i64;
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::on_db;

pub const EVENTS: [&str; 2] = ["stock.low", "sync.failed"];
pub const MAX_ATTEMPTS: i64 = 10;
const LOCK: Duration = Duration::from_secs(30);

/// The signature header's value for `body`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let mut m = crate::auth::hmac_sha256(secret.as_bytes());
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

/// Queues `event` for every active endpoint subscribed to it, through the caller's executor
/// (its transaction). Returns how many deliveries were queued.
macro_rules! enqueue {
    ($B:ident, $tx:expr, $event:expr, $data:expr) => {{
        let event: &str = $event;
        let event_id = uuid::Uuid::now_v7().to_string();
        let now = chrono::Utc::now();
        let body = serde_json::json!({
            "id": event_id, "event": event, "created_at": now, "data": $data
        })
        .to_string();
        let insert = if $B::IS_MYSQL {
            "INSERT IGNORE INTO webhook_deliveries (endpoint_id, event_id, event, payload, next_attempt_at, created_at)
             SELECT id, ?, ?, ?, ?, ? FROM webhook_endpoints
             WHERE is_active = 1 AND CONCAT(',', events, ',') LIKE CONCAT('%,', ?, ',%')"
        } else {
            "INSERT OR IGNORE INTO webhook_deliveries (endpoint_id, event_id, event, payload, next_attempt_at, created_at)
             SELECT id, ?, ?, ?, ?, ? FROM webhook_endpoints
             WHERE is_active = 1 AND (',' || events || ',') LIKE ('%,' || ? || ',%')"
        };
        sqlx::query(insert)
            .bind(&event_id)
            .bind(event)
            .bind(body)
            .bind(now)
            .bind(now)
            .bind(event)
            .execute($tx)
            .await?
            .rows_affected()
    }};
}
pub(crate) use enqueue;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = crate::examples::new_endpoint())]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    #[schemars(
        regex(pattern = r"^https?://[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,5})?(/[!-~]*)?$"),
        length(max = 2000)
    )]
    pub url: String,
    #[schemars(
        inner(regex(pattern = r"^(stock\.low|sync\.failed)$")),
        length(min = 1)
    )]
    pub events: Vec<String>,
    /// At least 16 characters; the gateway makes one when it is left out.
    #[serde(default)]
    #[schemars(length(min = 16, max = 128))]
    pub secret: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct EndpointCreated {
    pub id: u64,
    pub url: String,
    pub events: Vec<String>,
    /// Shown once.
    pub secret: String,
}

/// `POST /api/webhooks` (admin, super_admin).
pub async fn create_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    Json(req): Json<NewEndpoint>,
) -> ApiResult<(StatusCode, axum::Json<EndpointCreated>)> {
    let url = req.url.clone();
    if !crate::fields::http_url(&url) {
        return Err(ApiError::field("url", "must be an http:// or https:// URL"));
    }
    if req.events.is_empty() || req.events.iter().any(|e| !EVENTS.contains(&e.as_str())) {
        return Err(ApiError::field(
            "events",
            format!("one or more of {}", EVENTS.join(", ")),
        ));
    }
    let secret = match req.secret {
        Some(s) if !(16..=128).contains(&s.chars().count()) => {
            return Err(ApiError::field("secret", "must be 16 to 128 characters"));
        }
        Some(s) => s,
        None => hex::encode(rand::random::<[u8; 24]>()),
    };
    let mut events = req.events.clone();
    events.sort();
    events.dedup();
    let joined = events.join(",");
    let id = on_db!(&state.db, |pool, B| {
        let mut tx = B::begin(pool).await?;
        let id = sqlx::query("INSERT INTO webhook_endpoints (url, secret, events, created_by, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(&url)
            .bind(&secret)
            .bind(&joined)
            .bind(principal.user_id().map(to_i64))
            .bind(Utc::now())
            .execute(&mut *tx)
            .await?
            .last_insert_id_u64();
        crate::audit::write(
            &mut *tx,
            principal.user_id().map(to_i64),
            None,
            "webhook.create",
            "webhook_endpoints",
            Some(to_i64(id)),
            serde_json::json!({ "url": url, "events": joined }),
        )
        .await?;
        tx.commit().await?;
        id
    });
    Ok((
        StatusCode::CREATED,
        axum::Json(EndpointCreated {
            id,
            url,
            events,
            secret,
        }),
    ))
}

struct Due {
    id: i64,
    url: String,
    secret: String,
    event: String,
    event_id: String,
    payload: String,
    attempts: i64,
}

/// Claims up to `limit` due deliveries for `me`.
async fn claim(db: &Db, me: &str, limit: i64) -> ApiResult<Vec<Due>> {
    let now = Utc::now();
    let until = now + chrono::Duration::from_std(LOCK).unwrap_or_default();
    on_db!(db, |pool, B| {
        let candidates: Vec<i64> = {
            let rows = sqlx::query(
                "SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?
                 AND (locked_until IS NULL OR locked_until < ?) ORDER BY id LIMIT ?",
            )
            .bind(now)
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            let mut v = Vec::with_capacity(rows.len());
            for r in &rows {
                v.push(B::int(r, "id")?);
            }
            v
        };
        let mut out = Vec::new();
        for id in candidates {
            let won = sqlx::query(
                "UPDATE webhook_deliveries SET locked_by = ?, locked_until = ?
                 WHERE id = ? AND status = 'pending' AND (locked_until IS NULL OR locked_until < ?)",
            )
            .bind(me)
            .bind(until)
            .bind(id)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected();
            if won != 1 {
                continue;
            }
            let r = sqlx::query(
                "SELECT d.event, d.event_id, d.payload, d.attempts, e.url, e.secret
                 FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = ?",
            )
            .bind(id)
            .fetch_one(pool)
            .await?;
            out.push(Due {
                id,
                url: r.try_get("url")?,
                secret: r.try_get("secret")?,
                event: r.try_get("event")?,
                event_id: r.try_get("event_id")?,
                payload: r.try_get("payload")?,
                attempts: B::int(&r, "attempts")?,
            });
        }
        Ok(out)
    })
}

/// Records a delivery's outcome; a failure is retried later unless `give_up`.
async fn finish(
    db: &Db,
    me: &str,
    d: &Due,
    result: Result<(), String>,
    give_up: bool,
) -> ApiResult<()> {
    let now = Utc::now();
    on_db!(db, |pool, B| {
        match result {
            Ok(()) => {
                sqlx::query(
                    "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = ?, attempts = attempts + 1,
                        locked_by = NULL, locked_until = NULL WHERE id = ? AND locked_by = ?",
                )
                .bind(now)
                .bind(d.id)
                .bind(me)
                .execute(pool)
                .await?;
            }
            Err(e) => {
                let attempts = d.attempts + 1;
                let backoff = chrono::Duration::seconds(1_i64 << attempts.clamp(0, 12).min(12))
                    .min(chrono::Duration::hours(1));
                let status = if give_up || attempts >= MAX_ATTEMPTS {
                    "failed"
                } else {
                    "pending"
                };
                sqlx::query(
                    "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ?,
                        locked_by = NULL, locked_until = NULL WHERE id = ? AND locked_by = ?",
                )
                .bind(status)
                .bind(attempts)
                .bind(now + backoff)
                .bind(e.chars().take(1000).collect::<String>())
                .bind(d.id)
                .bind(me)
                .execute(pool)
                .await?;
            }
        }
    });
    Ok(())
}

async fn send(http: &reqwest::Client, d: &Due) -> Result<(), String> {
    let r = http
        .post(&d.url)
        .header("content-type", "application/json")
        .header("x-kasir-event", &d.event)
        .header("x-kasir-delivery", &d.event_id)
        .header(
            "x-kasir-signature",
            signature(&d.secret, d.payload.as_bytes()),
        )
        .body(d.payload.clone())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status().is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", r.status()))
    }
}

/// Whether a delivery may go to `url`'s host (`allowed`: the `webhook_hosts` setting).
pub fn host_allowed(allowed: &str, url: &str) -> bool {
    let hosts: Vec<&str> = allowed
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    if hosts.is_empty() {
        return true;
    }
    url.parse::<reqwest::Url>()
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .is_some_and(|h| hosts.iter().any(|a| a.eq_ignore_ascii_case(&h)))
}

/// One pass of the worker: claims what is due and delivers it (to allowed hosts only).
/// Returns how many were handled.
pub async fn deliver_due(
    db: &Db,
    http: &reqwest::Client,
    me: &str,
    allowed_hosts: &str,
) -> ApiResult<usize> {
    let due = claim(db, me, 20).await?;
    for d in &due {
        let allowed = host_allowed(allowed_hosts, &d.url);
        let result = if allowed {
            send(http, d).await
        } else {
            Err(format!(
                "the host of {} is not in webhook_hosts ({allowed_hosts}): not sent",
                d.url
            ))
        };
        if let Err(e) = &result {
            tracing::warn!(target: "kasir::sync", delivery = d.id, event = %d.event, error = %e, "webhook delivery failed");
        }
        finish(db, me, d, result, !allowed).await?;
    }
    Ok(due.len())
}

/// Runs the delivery worker of this instance until the process ends.
pub fn spawn_worker(state: &AppState, every: Duration) -> tokio::task::JoinHandle<()> {
    let db = state.db.clone();
    let allowed = state.config.webhook_hosts.clone();
    let me = format!("gw-{}", uuid::Uuid::new_v4());
    tokio::spawn(async move {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        loop {
            match deliver_due(&db, &http, &me, &allowed).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(target: "kasir::sync", error = %e.message, "webhook worker")
                }
            }
            tokio::time::sleep(every).await;
        }
    })
}

/// Deliveries not yet delivered (the health check's queue figure).
pub async fn backlog(db: &Db) -> ApiResult<(i64, i64)> {
    Ok(on_db!(db, |pool, B| {
        let pending: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'")
                .fetch_one(pool)
                .await?;
        let failed: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'failed'")
                .fetch_one(pool)
                .await?;
        (pending, failed)
    }))
}

#[cfg(test)]
mod tests {
    use super::host_allowed;

    #[test]
    fn deliveries_go_only_to_the_hosts_allowed() {
        assert!(host_allowed("", "https://erp.example.id/x"));
        assert!(host_allowed(
            " 127.0.0.1 , localhost",
            "http://127.0.0.1:9/x"
        ));
        assert!(host_allowed(
            "Hooks.Example.ID",
            "https://hooks.example.id/x"
        ));
        assert!(!host_allowed("127.0.0.1", "https://erp.example.id/x"));
        assert!(!host_allowed("127.0.0.1", "not a url"));
    }
}
