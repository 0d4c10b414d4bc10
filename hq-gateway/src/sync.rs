//! §3.2 synchronization: upload (exactly once) and status; the sync log (the download is
//! [`crate::download`]).
//!
//! Exactly once: a whole upload is one database transaction. Sales are classified against
//! what is stored (`sale_id` unique key): new → stored with their lines, payments, derived
//! stock movements (ids from `UploadTransaction::effects`, the same as the lanes derive) and
//! loyalty entries, and the store's stock follows; stored with the same content hash →
//! `duplicate`, nothing changes; stored with a different hash → `conflict`. Two uploads racing
//! on the same sale: the database's unique key makes one of them fail, and that transaction is
//! run again from the start (now the sale is a duplicate). A crash mid-upload rolls the
//! transaction back: nothing half-written. The transaction itself, phase by phase, is
//! [`crate::ingest`].

use std::collections::HashMap;

use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use kasir_schema::txn_number::StoreCode;
use kasir_schema::wire::{SyncUploadRequest, SyncUploadResponse};
use sqlx::Row;

use crate::AppState;
use crate::auth::Principal;
use crate::db::Db;
use crate::db::to_i64;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBytes;
use crate::ingest::ingest;
use crate::on_db;
use crate::stores::resolve_store;

/// Most sales one upload may carry.
pub const MAX_TRANSACTIONS: usize = kasir_schema::wire::MAX_UPLOAD_TRANSACTIONS;
pub use crate::ingest::MAX_LINES;

/// `POST /api/sync/upload`
///
/// Who may upload is decided before the body is read: the credential's role first, then its
/// store against the body's `store_id` (read alone, leniently), and only then is the body
/// checked field by field. A device of another store gets 403, never a 422 that would tell
/// it what the body should look like.
pub async fn upload(
    State(state): State<AppState>,
    principal: Principal,
    body: JsonBytes<SyncUploadRequest>,
) -> ApiResult<axum::Json<SyncUploadResponse>> {
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct StoreOnly {
        store_id: Option<serde_json::Value>,
    }
    if let Ok(StoreOnly {
        store_id: Some(serde_json::Value::String(raw)),
    }) = serde_json::from_slice::<StoreOnly>(&body.0)
        && let Ok(store) = resolve_store(&state.db, &raw).await
    {
        principal.require_store(store.id)?;
    }
    let req = body.parse()?;
    let store = resolve_store(&state.db, &req.store_id).await?;
    principal.require_store(store.id)?;
    if req.data.transactions.len() > MAX_TRANSACTIONS {
        return Err(ApiError::field(
            "data.transactions",
            format!("at most {MAX_TRANSACTIONS} per upload"),
        ));
    }
    let code = StoreCode::new(&store.code).map_err(ApiError::internal)?;
    let started = Utc::now();
    let result = crate::error::retry(|| {
        ingest(
            &state.db,
            &state.lookups,
            store.id,
            &code,
            &req,
            principal.user_id(),
        )
    })
    .await;
    // The products whose stock moved: their cached lookups are stale.
    if let Ok((_, moved)) = &result {
        state
            .lookups
            .products_changed(store.id, moved.iter().copied());
    }
    // A sale sent without its own id is answered by its number, the key its sender knows.
    let by_number: HashMap<String, String> = req
        .data
        .transactions
        .iter()
        .filter(|t| t.sale_id.is_none())
        .map(|t| {
            (
                t.id(&code).0.to_string(),
                t.transaction_number.trim().to_string(),
            )
        })
        .collect();
    let result = result.map(|(mut p, _)| {
        if !by_number.is_empty() {
            let c = &mut p.transactions;
            let ids = c.results.iter_mut().map(|r| &mut r.id);
            for id in ids.chain(c.errors.iter_mut().map(|e| &mut e.id)) {
                if let Some(n) = by_number.get(id) {
                    *id = n.clone();
                }
            }
        }
        p
    });
    let (processed, status, detail) = match &result {
        Ok(p) => (
            Some(p.clone()),
            "completed",
            serde_json::json!({
                "transactions": p.transactions.errors,
                "customers": p.customers.errors,
            }),
        ),
        Err(e) => (None, "failed", serde_json::json!({ "error": e.message })),
    };
    let records = req.data.transactions.len()
        + req.data.customers.len()
        + req.data.stock_movements.len()
        + req.data.loyalty_entries.len();
    let (ok, failed) = processed.as_ref().map_or((0, records), |p| {
        let c = [
            Some(&p.transactions),
            Some(&p.customers),
            p.stock_movements.as_ref(),
            p.loyalty_entries.as_ref(),
        ];
        (
            c.iter().flatten().map(|c| c.success as usize).sum(),
            c.iter().flatten().map(|c| c.failed as usize).sum(),
        )
    });
    if failed > 0 {
        let data = serde_json::json!({
            "store_id": store.id, "store_code": store.code, "failed": failed, "records": records,
            "error": result.as_ref().err().map(|e| e.message.clone()),
        });
        on_db!(&state.db, |pool, B| {
            crate::webhooks::enqueue!(B, pool, "sync.failed", data);
        });
    }
    SyncLog {
        store: store.id,
        sync_type: "upload",
        table: "all",
        records,
        ok,
        failed,
        status,
        detail: Some(detail),
        started,
    }
    .write(&state.db)
    .await?;
    let processed = result?;
    tracing::info!(target: "kasir::sync", store = %store.code, records, ok, failed, "upload");
    Ok(axum::Json(SyncUploadResponse {
        success: failed == 0,
        processed,
    }))
}

/// One row of `sync_logs`: an upload or a download of a store.
pub(crate) struct SyncLog<'a> {
    pub store: u64,
    /// `upload` or `download`.
    pub sync_type: &'a str,
    pub table: &'a str,
    pub records: usize,
    pub ok: usize,
    pub failed: usize,
    /// `completed` or `failed`.
    pub status: &'a str,
    pub detail: Option<serde_json::Value>,
    pub started: DateTime<Utc>,
}

impl SyncLog<'_> {
    pub(crate) async fn write(&self, db: &Db) -> ApiResult<()> {
        let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        let detail = self.detail.as_ref().map(serde_json::Value::to_string);
        on_db!(db, |pool, B| {
            sqlx::query(
                "INSERT INTO sync_logs (store_id, sync_type, table_name, records_count, success_count, failed_count,
                    status, error_details, started_at, completed_at, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(to_i64(self.store))
            .bind(self.sync_type)
            .bind(self.table)
            .bind(n(self.records))
            .bind(n(self.ok))
            .bind(n(self.failed))
            .bind(self.status)
            .bind(&detail)
            .bind(self.started)
            .bind(Utc::now())
            .bind(Utc::now())
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}

/// Failed uploads in the last hour (the health check's queue figure).
pub async fn failed_uploads_last_hour(db: &Db) -> ApiResult<i64> {
    let since = Utc::now() - chrono::Duration::hours(1);
    Ok(on_db!(db, |pool, B| {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM sync_logs WHERE status = 'failed' AND started_at > ?",
        )
        .bind(B::time(since))
        .fetch_one(pool)
        .await?
    }))
}

/// `GET /api/sync/status/{store_id}`
pub async fn status(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
) -> ApiResult<axum::Json<kasir_schema::wire::SyncStatusResponse>> {
    use kasir_schema::wire::{SyncErrorEntry, SyncState, SyncStatusResponse};
    let store = resolve_store(&state.db, &raw).await?;
    principal.require_store(store.id)?;
    let (last, errors) = on_db!(&state.db, |pool, B| {
        let last: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT MAX(completed_at) FROM sync_logs WHERE store_id = ? AND status = 'completed'",
        )
        .bind(to_i64(store.id))
        .fetch_one(pool)
        .await?;
        let rows = sqlx::query(
            // Among the store's last 200 syncs (an index range, however long its history).
            "SELECT table_name, error_details, started_at FROM
               (SELECT id, table_name, error_details, started_at, status, failed_count FROM sync_logs
                WHERE store_id = ? ORDER BY id DESC LIMIT 200) recent
             WHERE status = 'failed' OR failed_count > 0 ORDER BY id DESC LIMIT 10",
        )
        .bind(to_i64(store.id))
        .fetch_all(pool)
        .await?;
        let mut errors = Vec::new();
        for r in rows {
            let detail: Option<String> = r.try_get("error_details")?;
            errors.push(SyncErrorEntry {
                table_name: r.try_get("table_name")?,
                message: detail.unwrap_or_default(),
                at: r.try_get("started_at")?,
            });
        }
        (last, errors)
    });
    let state_now = match (&last, errors.first()) {
        (None, None) => SyncState::NeverSynced,
        (_, Some(e)) if last.is_none_or(|l| e.at >= l) => SyncState::Error,
        _ => SyncState::UpToDate,
    };
    Ok(axum::Json(SyncStatusResponse {
        last_sync: last,
        // The gateway cannot see a store's outbox; the store reports it (issue #6).
        pending_uploads: 0,
        sync_errors: errors,
        status: state_now,
    }))
}
