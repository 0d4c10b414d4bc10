//! Z reports at HQ (issue #12): what `POST /api/sync/upload` brings in its `shift_reports`
//! (each shift once, by `shift_id`), and `GET /api/shift-reports` for the people who reconcile
//! the drawers.

use std::collections::HashMap;

use axum::extract::State;
use chrono::{DateTime, Utc};
use kasir_schema::Decimal;
use kasir_schema::wire::{RecordStatus, ShiftReportRecord};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::AppState;
use crate::auth::Principal;
use crate::db::{to_i64, to_u64};
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::on_db;

/// What is wrong with a Z report before it touches the database.
pub(crate) fn check_report(r: &ShiftReportRecord) -> Result<(), String> {
    if !(1..=999).contains(&r.lane_no) {
        return Err("lane_no: must be 1 to 999".into());
    }
    crate::ingest::check_time("opened_at", r.opened_at)?;
    if r.closed_at < r.opened_at {
        return Err("closed_at: must not be before opened_at".into());
    }
    let amounts = [
        ("opening_float", r.opening_float),
        ("gross_sales", r.gross_sales),
        ("discounts", r.discounts),
        ("tax", r.tax),
        ("rounding", r.rounding),
        ("pay_ins", r.pay_ins),
        ("pay_outs", r.pay_outs),
        ("expected_cash", r.expected_cash),
        ("counted_cash", r.counted_cash),
        ("over_short", r.over_short),
    ];
    for (field, v) in amounts {
        crate::db::check_money(v).map_err(|e| format!("{field}: {}", e.message))?;
    }
    for (field, map) in [
        ("sales_by_method", &r.sales_by_method),
        ("refunds_by_method", &r.refunds_by_method),
    ] {
        for (method, v) in map {
            crate::db::check_money(*v)
                .map_err(|e| format!("{field}.{}: {}", method.as_str(), e.message))?;
        }
    }
    crate::db::check_qty(r.items).map_err(|e| format!("items: {}", e.message))?;
    for (field, v) in [
        ("opening_float", r.opening_float),
        ("counted_cash", r.counted_cash),
        ("pay_ins", r.pay_ins),
        ("pay_outs", r.pay_outs),
    ] {
        if v < Decimal::ZERO {
            return Err(format!("{field}: must not be negative"));
        }
    }
    if r.counted_cash - r.expected_cash != r.over_short {
        return Err("over_short: must be counted_cash - expected_cash".into());
    }
    Ok(())
}

/// The hash a report is stored with (its canonical JSON, numbers normalized).
pub(crate) fn report_hash(r: &ShiftReportRecord) -> String {
    crate::ingest::canonical_hash(serde_json::to_value(r).unwrap_or_default())
}

/// Each report in request order: stored (new), duplicate (the same report is held), conflict
/// (another report of the shift is held, or it belongs to another store) or invalid. Returns
/// the tally and the reports to store with their hashes.
pub(crate) fn classify_reports<'r>(
    reports: &'r [ShiftReportRecord],
    known: &mut HashMap<String, (i64, String)>,
    store_id: i64,
) -> (crate::ingest::Tally, Vec<(&'r ShiftReportRecord, String)>) {
    let mut tally = crate::ingest::Tally::default();
    let mut fresh = Vec::new();
    for r in reports {
        let id = r.shift_id.0.to_string();
        let hash = report_hash(r);
        if let Some((store, held)) = known.get(&id) {
            if *store == store_id && *held == hash {
                tally.record(id, RecordStatus::Duplicate, None);
            } else {
                let why = if *store == store_id {
                    "another report of this shift is stored"
                } else {
                    "this shift is stored for another store"
                };
                tally.record(id, RecordStatus::Conflict, Some(why.into()));
            }
            continue;
        }
        if let Err(e) = check_report(r) {
            tally.record(id, RecordStatus::Invalid, Some(e));
            continue;
        }
        known.insert(id.clone(), (store_id, hash.clone()));
        tally.record(id, RecordStatus::Stored, None);
        fresh.push((r, hash));
    }
    (tally, fresh)
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShiftReportsQuery {
    #[schemars(example = 1)]
    pub store_id: Option<u64>,
    /// Reports of shifts closed from this time (default: 30 days before `to`).
    pub from: Option<DateTime<Utc>>,
    /// … up to this time (default: now).
    pub to: Option<DateTime<Utc>>,
    #[schemars(range(min = 1, max = 999))]
    pub lane_no: Option<u16>,
    #[serde(default = "crate::analytics::fifty")]
    #[schemars(range(min = 1, max = 200))]
    pub per_page: u32,
    #[serde(default = "crate::analytics::one")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub page: u32,
}

/// One Z report as HQ holds it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ShiftReportRow {
    pub id: u64,
    pub store_id: u64,
    #[serde(flatten)]
    pub report: ShiftReportRecord,
    /// When HQ received it.
    pub created_at: DateTime<Utc>,
}

/// `GET /api/shift-reports?store_id=&from=&to=&lane_no=&page=&per_page=`: Z reports, the
/// latest closed first.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ShiftReportsQuery>,
) -> ApiResult<axum::Json<crate::analytics::Page<ShiftReportRow>>> {
    let store = crate::analytics::scope(&principal, q.store_id)?;
    let (from, to) = crate::analytics::range(q.from, q.to)?;
    let offset = crate::analytics::page_offset(q.page, q.per_page)?;
    if q.lane_no.is_some_and(|l| !(1..=999).contains(&l)) {
        return Err(ApiError::field("lane_no", "must be between 1 and 999"));
    }
    let filter = "FROM shift_reports WHERE closed_at >= ? AND closed_at <= ?
        AND (? IS NULL OR store_id = ?) AND (? IS NULL OR lane_no = ?)";
    let store = store.map(to_i64);
    let lane = q.lane_no.map(i64::from);
    let (total, data) = on_db!(&state.db, |pool, B| {
        let total: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) {filter}")))
                .bind(B::time(from))
                .bind(B::time(to))
                .bind(store)
                .bind(store)
                .bind(lane)
                .bind(lane)
                .fetch_one(pool)
                .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, store_id, report_json, created_at {filter}
             ORDER BY closed_at DESC, id DESC LIMIT ? OFFSET ?"
        )))
        .bind(B::time(from))
        .bind(B::time(to))
        .bind(store)
        .bind(store)
        .bind(lane)
        .bind(lane)
        .bind(i64::from(q.per_page))
        .bind(offset)
        .fetch_all(pool)
        .await?;
        let mut data = Vec::with_capacity(rows.len());
        for r in &rows {
            let json: String = r.try_get("report_json")?;
            data.push(ShiftReportRow {
                id: to_u64(B::int(r, "id")?),
                store_id: to_u64(B::int(r, "store_id")?),
                report: serde_json::from_str(&json).map_err(ApiError::internal)?,
                created_at: r.try_get("created_at")?,
            });
        }
        (total, data)
    });
    Ok(axum::Json(crate::analytics::Page {
        data,
        meta: kasir_schema::wire::PageMeta {
            current_page: q.page,
            total: to_u64(total),
            per_page: q.per_page,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(shift: u128, counted: i64) -> ShiftReportRecord {
        serde_json::from_value(json!({
            "shift_id": uuid::Uuid::from_u128(shift), "lane_no": 2, "opened_by": 3, "closed_by": 3,
            "opened_at": "2026-11-29T01:00:00Z", "closed_at": "2026-11-29T09:00:00Z",
            "opening_float": 200000, "transactions": 12, "items": 30.5, "gross_sales": 450000,
            "discounts": 0, "tax": 44595, "rounding": 0, "sales_by_method": { "cash": 300000, "card": 150000 },
            "refunds": 0, "refunds_by_method": {}, "pay_ins": 0, "pay_outs": 0,
            "expected_cash": 500000, "counted_cash": counted, "over_short": counted - 500000
        }))
        .unwrap()
    }

    #[test]
    fn reports_are_new_duplicate_conflicting_or_invalid() {
        let a = report(1, 500_000);
        let a_again = report(1, 500_000);
        let a_changed = report(1, 499_000);
        let mut bad = report(2, 500_000);
        bad.over_short = Decimal::from(5);
        let mut early = report(3, 500_000);
        early.closed_at = early.opened_at - chrono::Duration::hours(1);
        let elsewhere = report(4, 500_000);
        let mut known: HashMap<String, (i64, String)> = [(
            uuid::Uuid::from_u128(4).to_string(),
            (9, report_hash(&elsewhere)),
        )]
        .into();
        let batch = [a, a_again, a_changed, bad, early, elsewhere];
        let (tally, fresh) = classify_reports(&batch, &mut known, 1);
        use RecordStatus::*;
        let statuses: Vec<RecordStatus> = tally.counts.results.iter().map(|r| r.status).collect();
        assert_eq!(
            statuses,
            [Stored, Duplicate, Conflict, Invalid, Invalid, Conflict]
        );
        assert_eq!(fresh.len(), 1);
        assert!(tally.counts.errors[1].message.contains("over_short"));
        assert!(tally.counts.errors[3].message.contains("another store"));
    }

    #[test]
    fn a_report_reads_back_as_it_was_sent() {
        let r = report(1, 500_000);
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<ShiftReportRecord>(&json).unwrap(), r);
        // Numbers written differently are the same report.
        let mut v = serde_json::to_value(&r).unwrap();
        v["items"] = json!(30.50);
        let same: ShiftReportRecord = serde_json::from_value(v).unwrap();
        assert_eq!(report_hash(&same), report_hash(&r));
    }
}
