//! §3.2 synchronization: upload (exactly once), download, status; the sync and audit logs.
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

use std::collections::{BTreeSet, HashMap};

use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use kasir_schema::txn_number::StoreCode;
use kasir_schema::wire::{StockMovementRecord, SyncUploadRequest, SyncUploadResponse};
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
    write_sync_log(
        &state.db, store.id, records, ok, failed, status, detail, started,
    )
    .await?;
    let processed = result?;
    tracing::info!(target: "kasir::sync", store = %store.code, records, ok, failed, "upload");
    Ok(axum::Json(SyncUploadResponse {
        success: failed == 0,
        processed,
    }))
}

#[allow(clippy::too_many_arguments)]
async fn write_sync_log(
    db: &Db,
    store: u64,
    records: usize,
    ok: usize,
    failed: usize,
    status: &str,
    detail: serde_json::Value,
    started: DateTime<Utc>,
) -> ApiResult<()> {
    let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
    on_db!(db, |pool, B| {
        sqlx::query(
            "INSERT INTO sync_logs (store_id, sync_type, table_name, records_count, success_count, failed_count,
                status, error_details, started_at, completed_at, created_at)
             VALUES (?, 'upload', 'all', ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(to_i64(store))
        .bind(n(records))
        .bind(n(ok))
        .bind(n(failed))
        .bind(status)
        .bind(detail.to_string())
        .bind(started)
        .bind(Utc::now())
        .bind(Utc::now())
        .execute(pool)
        .await?;
    });
    Ok(())
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
            "SELECT table_name, error_details, started_at FROM sync_logs
             WHERE store_id = ? AND (status = 'failed' OR failed_count > 0) ORDER BY id DESC LIMIT 10",
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

/// How far before `last_sync` a download looks again: rows committed late (a long
/// transaction that began before the previous download) are sent again rather than missed;
/// the store applies each by its id, so a repeat changes nothing.
pub const DOWNLOAD_OVERLAP: chrono::Duration = chrono::Duration::minutes(5);

fn download_query(q: &str) -> ApiResult<(Option<DateTime<Utc>>, BTreeSet<String>)> {
    use kasir_schema::wire::DOWNLOAD_TABLES;
    let mut last = None;
    let mut tables = BTreeSet::new();
    for (k, v) in form_urlencoded::parse(q.as_bytes()) {
        match k.as_ref() {
            "last_sync" => {
                last = Some(
                    DateTime::parse_from_rfc3339(v.trim())
                        .map_err(|_| {
                            ApiError::field(
                                "last_sync",
                                "must be an RFC 3339 time, e.g. 2025-07-11T10:30:00Z",
                            )
                        })?
                        .to_utc(),
                );
            }
            "tables" | "tables[]" => {
                for t in v.split(',').map(str::trim) {
                    if !DOWNLOAD_TABLES.contains(&t) {
                        return Err(ApiError::field(
                            "tables",
                            format!("unknown table {t:?}; known: {}", DOWNLOAD_TABLES.join(", ")),
                        ));
                    }
                    tables.insert(t.to_string());
                }
            }
            other => {
                return Err(ApiError::field(
                    &other.chars().take(40).collect::<String>(),
                    "unknown parameter",
                ));
            }
        }
    }
    if tables.is_empty() {
        tables = DOWNLOAD_TABLES.iter().map(|t| (*t).to_string()).collect();
    }
    Ok((last, tables))
}

/// `GET /api/sync/download/{store_id}?last_sync=&tables=`: what changed at HQ for the store
/// since `last_sync` (everything without it). `tables` takes a comma list or repeats.
pub async fn download(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
    query: crate::extract::RawQuery<kasir_schema::wire::SyncDownloadQuery>,
) -> ApiResult<axum::Json<kasir_schema::wire::SyncDownloadResponse>> {
    use kasir_schema::wire::{
        DownloadCategory, DownloadCustomer, DownloadProduct, StoreSettings, SyncDownloadData,
        SyncDownloadResponse,
    };
    let store = resolve_store(&state.db, &raw).await?;
    principal.require_store(store.id)?;
    let (last, tables) = download_query(&query.0)?;
    let now = Utc::now();
    let since = last.map_or(DateTime::<Utc>::UNIX_EPOCH, |l| l - DOWNLOAD_OVERLAP);
    let sid = to_i64(store.id);
    let mut data = SyncDownloadData::default();
    let u = |v: i64| u64::try_from(v).unwrap_or(0);
    on_db!(&state.db, |pool, B| {
        if tables.contains("products") {
            let rows = sqlx::query(
                "SELECT p.id, p.barcode, p.sku, p.name, p.description, p.category_id, p.unit, p.cost_price,
                    sp.selling_price, sp.stock_quantity, sp.min_stock, sp.max_stock, p.is_active, sp.is_available,
                    CASE WHEN sp.updated_at > p.updated_at THEN sp.updated_at ELSE p.updated_at END AS changed
                 FROM products p JOIN store_products sp ON sp.product_id = p.id AND sp.store_id = ?
                 WHERE p.updated_at > ? OR sp.updated_at > ? ORDER BY p.id",
            )
            .bind(sid)
            .bind(B::time(since))
            .bind(B::time(since))
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(DownloadProduct {
                    id: u(B::int(r, "id")?),
                    barcode: r.try_get("barcode")?,
                    sku: r.try_get("sku")?,
                    name: r.try_get("name")?,
                    description: r.try_get("description")?,
                    category_id: B::opt_int(r, "category_id")?.map(u),
                    unit: r.try_get("unit")?,
                    cost_price: B::get_money(r, "cost_price")?,
                    selling_price: B::get_money(r, "selling_price")?,
                    stock_quantity: B::get_qty(r, "stock_quantity")?,
                    min_stock: B::get_qty(r, "min_stock")?,
                    max_stock: B::get_qty(r, "max_stock")?,
                    is_active: B::int(r, "is_active")? != 0,
                    is_available: B::int(r, "is_available")? != 0,
                    updated_at: r.try_get("changed")?,
                });
            }
            data.products = Some(out);
        }
        if tables.contains("categories") {
            let rows = sqlx::query(
                "SELECT id, name, description, parent_id, sort_order, is_active, updated_at
                 FROM categories WHERE updated_at > ? ORDER BY id",
            )
            .bind(B::time(since))
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(DownloadCategory {
                    id: u(B::int(r, "id")?),
                    name: r.try_get("name")?,
                    description: r.try_get("description")?,
                    parent_id: B::opt_int(r, "parent_id")?.map(u),
                    sort_order: i32::try_from(B::int(r, "sort_order")?).unwrap_or(0),
                    is_active: B::int(r, "is_active")? != 0,
                    updated_at: r.try_get("updated_at")?,
                });
            }
            data.categories = Some(out);
        }
        if tables.contains("customers") {
            let rows = sqlx::query(
                "SELECT id, customer_uuid, customer_code, name, email, phone, address, date_of_birth,
                    loyalty_points, total_purchases, is_active, updated_at
                 FROM customers WHERE updated_at > ? ORDER BY id",
            )
            .bind(B::time(since))
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let uuid: String = r.try_get("customer_uuid")?;
                out.push(DownloadCustomer {
                    id: u(B::int(r, "id")?),
                    customer_uuid: uuid.parse().map_err(ApiError::internal)?,
                    customer_code: r.try_get("customer_code")?,
                    name: r.try_get("name")?,
                    email: r.try_get("email")?,
                    phone: r.try_get("phone")?,
                    address: r.try_get("address")?,
                    date_of_birth: r.try_get("date_of_birth")?,
                    loyalty_points: B::int(r, "loyalty_points")?,
                    total_purchases: B::get_money(r, "total_purchases")?,
                    is_active: B::int(r, "is_active")? != 0,
                    updated_at: r.try_get("updated_at")?,
                });
            }
            data.customers = Some(out);
        }
        if tables.contains("settings") {
            let r = sqlx::query(
                "SELECT id, store_code, store_name, address, tax_rate, tax_inclusive, currency, timezone, cash_rounding
                 FROM stores WHERE id = ?",
            )
            .bind(sid)
            .fetch_one(pool)
            .await?;
            data.settings = Some(StoreSettings {
                store_id: u(B::int(&r, "id")?),
                store_code: r.try_get("store_code")?,
                store_name: r.try_get("store_name")?,
                address: r.try_get("address")?,
                tax_rate: B::get_money(&r, "tax_rate")?,
                tax_inclusive: B::int(&r, "tax_inclusive")? != 0,
                currency: r.try_get("currency")?,
                timezone: r.try_get("timezone")?,
                cash_rounding: B::get_money(&r, "cash_rounding")?,
            });
        }
        if tables.contains("stock_movements") {
            let rows = sqlx::query(
                "SELECT m.movement_id, m.product_id, p.sku, m.movement_type, m.quantity, m.reference_type,
                    m.sale_id, m.notes, m.created_by, m.created_at, m.reference_id, m.from_store_id,
                    m.to_store_id
                 FROM hq_stock_movements h JOIN stock_movements m ON m.movement_id = h.movement_id
                 JOIN products p ON p.id = m.product_id
                 WHERE h.store_id = ? AND h.created_at > ? ORDER BY m.id",
            )
            .bind(sid)
            .bind(B::time(since))
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let parse = |col: &str| -> ApiResult<serde_json::Value> {
                    Ok(serde_json::Value::String(r.try_get::<String, _>(col)?))
                };
                let id: String = r.try_get("movement_id")?;
                out.push(StockMovementRecord {
                    movement_id: id.parse().map_err(ApiError::internal)?,
                    product_id: Some(u(B::int(r, "product_id")?)),
                    sku: r.try_get("sku")?,
                    movement_type: serde_json::from_value(parse("movement_type")?)
                        .map_err(ApiError::internal)?,
                    quantity: B::get_qty(r, "quantity")?,
                    reference_type: serde_json::from_value(parse("reference_type")?)
                        .map_err(ApiError::internal)?,
                    sale_id: r
                        .try_get::<Option<String>, _>("sale_id")?
                        .map(|s| s.parse())
                        .transpose()
                        .map_err(ApiError::internal)?,
                    notes: r.try_get("notes")?,
                    created_by: B::opt_int(r, "created_by")?.map(u),
                    created_at: r.try_get("created_at")?,
                    reference_id: B::opt_int(r, "reference_id")?.map(u),
                    from_store_id: B::opt_int(r, "from_store_id")?.map(u),
                    to_store_id: B::opt_int(r, "to_store_id")?.map(u),
                });
            }
            data.stock_movements = Some(out);
        }
        let count = [
            data.products.as_ref().map(Vec::len),
            data.categories.as_ref().map(Vec::len),
            data.customers.as_ref().map(Vec::len),
            data.stock_movements.as_ref().map(Vec::len),
        ]
        .into_iter()
        .flatten()
        .sum::<usize>();
        let n = i64::try_from(count).unwrap_or(i64::MAX);
        sqlx::query(
            "INSERT INTO sync_logs (store_id, sync_type, table_name, records_count, success_count, failed_count,
                status, started_at, completed_at, created_at)
             VALUES (?, 'download', ?, ?, ?, 0, 'completed', ?, ?, ?)",
        )
        .bind(sid)
        .bind(tables.iter().cloned().collect::<Vec<_>>().join(","))
        .bind(n)
        .bind(n)
        .bind(now)
        .bind(Utc::now())
        .bind(Utc::now())
        .execute(pool)
        .await?;
    });
    tracing::info!(target: "kasir::sync", store = %store.code, "download");
    Ok(axum::Json(SyncDownloadResponse {
        success: true,
        data,
        last_sync: now,
    }))
}
