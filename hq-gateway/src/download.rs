//! `GET /api/sync/download/{store_id}`: what changed at HQ for a store, two ways.
//!
//! - **By cursor** (`cursor=`, what the lanes use): exact and paged. Every change a store
//!   downloads is stamped with the version of its change counter (`lookups::stamp!`:
//!   `catalog` for products and categories, `store:<id>` for the store's prices and HQ's stock
//!   movements for it, `customers` for customers), taken in the change's transaction, whose
//!   lock on the counter's row lasts until the commit: versions are handed out in commit
//!   order. A download round reads the three counters first (the round's upper
//!   bounds); every change stamped at or below them has committed by then, and every change
//!   that commits later gets a higher version and comes in the next round. Within a round the
//!   rows go table by table in id order, `limit` rows a page; the cursor says where the round
//!   stands (bounds, table, last id, rows sent of the total counted at its start). A row that
//!   changes again mid-round leaves the round (its version passed the bound) and comes whole in
//!   the next one.
//! - **By time** (`last_sync=`, the seed's form, for other integrators): rows whose
//!   `updated_at` is after `last_sync` minus [`DOWNLOAD_OVERLAP`], so rows committed late by a
//!   long transaction are sent again rather than missed. This bound is a guess about the
//!   longest transaction; the cursor is not.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use kasir_schema::wire::{
    DOWNLOAD_MAX_PAGE_ROWS, DOWNLOAD_PAGE_ROWS, DOWNLOAD_TABLES, DownloadCategory,
    DownloadCustomer, DownloadProduct, DownloadProgress, StockMovementRecord, StoreSettings,
    SyncDownloadData, SyncDownloadResponse,
};
use sqlx::Row;

use crate::AppState;
use crate::auth::Principal;
use crate::db::to_i64;
use crate::error::{ApiError, ApiResult};
use crate::on_db;
use crate::stores::resolve_store;

mod cursor;
use cursor::{Cursor, ROUND, Round, Versions};

/// How far before `last_sync` a download by time looks again: rows committed late (a long
/// transaction that began before the previous download) are sent again rather than missed;
/// the store applies each by its id, so a repeat changes nothing.
pub const DOWNLOAD_OVERLAP: chrono::Duration = chrono::Duration::minutes(5);

/// What the query string asks for.
#[derive(Debug, Default)]
struct Asked {
    last_sync: Option<DateTime<Utc>>,
    tables: BTreeSet<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

fn download_query(q: &str) -> ApiResult<Asked> {
    let mut asked = Asked::default();
    for (k, v) in form_urlencoded::parse(q.as_bytes()) {
        match k.as_ref() {
            "last_sync" => {
                asked.last_sync = Some(
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
                    asked.tables.insert(t.to_string());
                }
            }
            "cursor" => asked.cursor = Some(v.into_owned()),
            "limit" => {
                let n: u32 = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| (1..=DOWNLOAD_MAX_PAGE_ROWS).contains(n))
                    .ok_or_else(|| {
                        ApiError::field(
                            "limit",
                            format!("must be a whole number from 1 to {DOWNLOAD_MAX_PAGE_ROWS}"),
                        )
                    })?;
                asked.limit = Some(n);
            }
            other => {
                return Err(ApiError::field(
                    &other.chars().take(40).collect::<String>(),
                    "unknown parameter",
                ));
            }
        }
    }
    if asked.cursor.is_some() {
        if asked.last_sync.is_some() {
            return Err(ApiError::field(
                "cursor",
                "give cursor or last_sync, not both",
            ));
        }
        if !asked.tables.is_empty() {
            return Err(ApiError::field(
                "tables",
                "a cursor download sends every table; leave tables out",
            ));
        }
    } else if asked.limit.is_some() {
        return Err(ApiError::field(
            "limit",
            "pages need a cursor (start with cursor=0)",
        ));
    }
    if asked.tables.is_empty() {
        asked.tables = DOWNLOAD_TABLES.iter().map(|t| (*t).to_string()).collect();
    }
    Ok(asked)
}

/// Which rows a table query selects.
#[derive(Debug, Clone, Copy)]
enum Window {
    /// `updated_at` (or `created_at`) after this time, all at once.
    Since(DateTime<Utc>),
    /// Stamped after `from` and at or below `to`, ids after `after`, at most `limit`.
    Versions {
        from: Versions,
        to: Versions,
        after: i64,
        limit: i64,
    },
}

const PRODUCT_COLUMNS: &str =
    "p.id, p.barcode, p.sku, p.name, p.description, p.category_id, p.unit, p.cost_price,
    sp.selling_price, sp.stock_quantity, sp.min_stock, sp.max_stock, p.is_active, sp.is_available,
    CASE WHEN sp.updated_at > p.updated_at THEN sp.updated_at ELSE p.updated_at END AS changed";
const CATEGORY_COLUMNS: &str =
    "id, name, description, parent_id, sort_order, is_active, updated_at";
const CUSTOMER_COLUMNS: &str =
    "id, customer_uuid, customer_code, name, email, phone, address, date_of_birth,
    loyalty_points, total_purchases, is_active, updated_at";
const MOVEMENT_COLUMNS: &str =
    "m.id, m.movement_id, m.product_id, p.sku, m.movement_type, m.quantity, m.reference_type,
    m.sale_id, m.notes, m.created_by, m.created_at, m.reference_id, m.from_store_id, m.to_store_id";

/// A table's rows in a window: the SQL (by time or by version) with its binds, run and mapped
/// with `$map` into `$out`; evaluates to the last id read.
macro_rules! fetch {
    ($B:ident, $pool:expr, $window:expr, $sid:expr,
     time: $time_sql:expr, [$($tb:tt)*],
     version: $ver_sql:expr, |$from:ident, $to:ident| [$($vb:expr),*],
     $out:expr, |$r:ident| $map:expr) => {{
        let rows = match $window {
            Window::Since(since) => {
                let q = sqlx::query(sqlx::AssertSqlSafe($time_sql));
                fetch!(@bind q, $B, since, $sid, $($tb)*).fetch_all($pool).await?
            }
            Window::Versions { from: $from, to: $to, after, limit } => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe($ver_sql));
                $( q = q.bind($vb); )*
                q.bind(after).bind(limit).fetch_all($pool).await?
            }
        };
        let mut last = 0_i64;
        for $r in &rows {
            last = $B::int($r, "id")?;
            $out.push($map);
        }
        last
    }};
    (@bind $q:ident, $B:ident, $since:ident, $sid:expr, since) => {
        $q.bind($B::time($since))
    };
    (@bind $q:ident, $B:ident, $since:ident, $sid:expr, store since) => {
        $q.bind($sid).bind($B::time($since))
    };
}

/// A stock movement row as the download sends it.
macro_rules! movement_record {
    ($B:ident, $r:expr) => {{
        let r = $r;
        let parse = |col: &str| -> ApiResult<serde_json::Value> {
            Ok(serde_json::Value::String(r.try_get::<String, _>(col)?))
        };
        let id: String = r.try_get("movement_id")?;
        StockMovementRecord {
            movement_id: id.parse().map_err(ApiError::internal)?,
            product_id: Some(u($B::int(r, "product_id")?)),
            sku: r.try_get("sku")?,
            movement_type: serde_json::from_value(parse("movement_type")?)
                .map_err(ApiError::internal)?,
            quantity: $B::get_qty(r, "quantity")?,
            reference_type: serde_json::from_value(parse("reference_type")?)
                .map_err(ApiError::internal)?,
            sale_id: r
                .try_get::<Option<String>, _>("sale_id")?
                .map(|s| s.parse())
                .transpose()
                .map_err(ApiError::internal)?,
            notes: r.try_get("notes")?,
            created_by: $B::opt_int(r, "created_by")?.map(u),
            created_at: r.try_get("created_at")?,
            reference_id: $B::opt_int(r, "reference_id")?.map(u),
            from_store_id: $B::opt_int(r, "from_store_id")?.map(u),
            to_store_id: $B::opt_int(r, "to_store_id")?.map(u),
        }
    }};
}

/// Ids from the database are never negative.
fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// `GET /api/sync/download/{store_id}?cursor=&limit=` or `?last_sync=&tables=`: see the
/// module documentation.
pub async fn download(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
    query: crate::extract::RawQuery<kasir_schema::wire::SyncDownloadQuery>,
) -> ApiResult<axum::Json<SyncDownloadResponse>> {
    let store = resolve_store(&state.db, &raw).await?;
    principal.require_store(store.id)?;
    let asked = download_query(&query.0)?;
    let sid = to_i64(store.id);
    let now = Utc::now();
    let scope = crate::lookups::store_scope(store.id);
    let mut data = SyncDownloadData::default();
    let mut answer = SyncDownloadResponse {
        success: true,
        data: SyncDownloadData::default(),
        last_sync: now,
        cursor: None,
        has_more: false,
        progress: None,
    };
    // The counters first: every change stamped at or below them has committed.
    let current = on_db!(&state.db, |pool, B| {
        let rows =
            sqlx::query("SELECT scope, version FROM change_versions WHERE scope IN (?, ?, ?)")
                .bind(crate::lookups::CATALOG)
                .bind(&scope)
                .bind(crate::lookups::CUSTOMERS)
                .fetch_all(pool)
                .await?;
        let mut v = Versions {
            catalog: 0,
            store: 0,
            customers: 0,
        };
        for r in &rows {
            let s: String = r.try_get("scope")?;
            let n = B::int(r, "version")?;
            match s.as_str() {
                crate::lookups::CATALOG => v.catalog = n,
                crate::lookups::CUSTOMERS => v.customers = n,
                _ => v.store = n,
            }
        }
        v
    });
    // The windows of the tables, and what the answer says of where the store stands.
    let mut cursor = match &asked.cursor {
        Some(raw) => Some(Cursor::parse(raw, sid)?),
        None => None,
    };
    let limit = i64::from(asked.limit.unwrap_or(DOWNLOAD_PAGE_ROWS));
    let began = cursor.as_ref().is_some_and(|c| c.round.is_none());
    if let Some(c) = &mut cursor
        && c.round.is_none()
    {
        // A new round: up to the counters read now, the rows counted for the progress.
        let to = current;
        // A quiet poll (no counter moved) has nothing to count.
        let total = if to == c.from {
            0
        } else {
            count_round(&state, sid, c.from, to).await?
        };
        c.round = Some(Round {
            to,
            table: 0,
            after: 0,
            sent: 0,
            total,
        });
    }
    let since = asked
        .last_sync
        .map_or(DateTime::<Utc>::UNIX_EPOCH, |l| l - DOWNLOAD_OVERLAP);
    let tables: Vec<&str> = match &cursor {
        Some(c) => {
            let r = c.round.expect("a round was begun above");
            ROUND[r.table.min(ROUND.len())..].to_vec()
        }
        None => ROUND
            .iter()
            .copied()
            .filter(|t| asked.tables.contains(*t))
            .collect(),
    };
    let mut room = limit;
    for table in tables {
        let window = match &cursor {
            None => Window::Since(since),
            Some(c) => {
                let r = c.round.expect("a round was begun above");
                let after = if ROUND[r.table.min(ROUND.len() - 1)] == table {
                    r.after
                } else {
                    0
                };
                Window::Versions {
                    from: c.from,
                    to: r.to,
                    after,
                    limit: room,
                }
            }
        };
        if let Window::Versions { from, to, .. } = window {
            let moved = match table {
                "categories" => from.catalog < to.catalog,
                "products" => from.catalog < to.catalog || from.store < to.store,
                "customers" => from.customers < to.customers,
                _ => from.store < to.store,
            };
            // Nothing was stamped for this table since the cursor (the usual poll).
            if !moved {
                advance(&mut cursor, table, 0, 0, &mut room);
                continue;
            }
        }
        let (got, last) = on_db!(&state.db, |pool, B| {
            match table {
                "categories" => {
                    let mut out = Vec::new();
                    let last = fetch!(B, pool, window, sid,
                    time: format!("SELECT {CATEGORY_COLUMNS} FROM categories WHERE updated_at > ? ORDER BY id"), [since],
                    version: format!("SELECT {CATEGORY_COLUMNS} FROM categories
                        WHERE sync_version > ? AND sync_version <= ? AND id > ? ORDER BY id LIMIT ?"),
                    |f, t| [f.catalog, t.catalog],
                    out, |r| DownloadCategory {
                        id: u(B::int(r, "id")?),
                        name: r.try_get("name")?,
                        description: r.try_get("description")?,
                        parent_id: B::opt_int(r, "parent_id")?.map(u),
                        sort_order: i32::try_from(B::int(r, "sort_order")?).unwrap_or(0),
                        is_active: B::int(r, "is_active")? != 0,
                        updated_at: r.try_get("updated_at")?,
                    });
                    let n = out.len();
                    data.categories.get_or_insert_with(Vec::new).extend(out);
                    (n, last)
                }
                "products" => {
                    let mut out = Vec::new();
                    let product = |r: &_| -> ApiResult<DownloadProduct> {
                        Ok(DownloadProduct {
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
                        })
                    };
                    let last = match window {
                        Window::Since(since) => {
                            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                                "SELECT {PRODUCT_COLUMNS}
                                 FROM products p JOIN store_products sp ON sp.product_id = p.id AND sp.store_id = ?
                                 WHERE p.updated_at > ? OR sp.updated_at > ? ORDER BY p.id"
                            )))
                            .bind(sid)
                            .bind(B::time(since))
                            .bind(B::time(since))
                            .fetch_all(pool)
                            .await?;
                            for r in &rows {
                                out.push(product(r)?);
                            }
                            0
                        }
                        Window::Versions {
                            from,
                            to,
                            after,
                            limit,
                        } => {
                            // The store's products whose catalog row changed, and those whose
                            // store row changed (each by its own index), merged in id order.
                            let mut ids: BTreeSet<i64> = BTreeSet::new();
                            for sql in [
                                "SELECT p.id FROM products p
                                 JOIN store_products sp ON sp.product_id = p.id AND sp.store_id = ?
                                 WHERE p.sync_version > ? AND p.sync_version <= ? AND p.id > ?
                                 ORDER BY p.id LIMIT ?",
                                "SELECT product_id AS id FROM store_products
                                 WHERE store_id = ? AND sync_version > ? AND sync_version <= ? AND product_id > ?
                                 ORDER BY product_id LIMIT ?",
                            ] {
                                let (lo, hi) = if sql.contains("p.sync_version") {
                                    (from.catalog, to.catalog)
                                } else {
                                    (from.store, to.store)
                                };
                                if lo >= hi {
                                    continue;
                                }
                                let rows = sqlx::query(sql)
                                    .bind(sid)
                                    .bind(lo)
                                    .bind(hi)
                                    .bind(after)
                                    .bind(limit)
                                    .fetch_all(pool)
                                    .await?;
                                for r in &rows {
                                    ids.insert(B::int(r, "id")?);
                                }
                            }
                            let page: Vec<i64> = ids
                                .into_iter()
                                .take(usize::try_from(limit).unwrap_or(0))
                                .collect();
                            for chunk in page.chunks(1000) {
                                let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                                    "SELECT {PRODUCT_COLUMNS}
                                     FROM products p JOIN store_products sp ON sp.product_id = p.id AND sp.store_id = ?
                                     WHERE p.id IN ({}) ORDER BY p.id",
                                    crate::ingest::in_list(chunk.len())
                                )))
                                .bind(sid);
                                for id in chunk {
                                    q = q.bind(id);
                                }
                                for r in &q.fetch_all(pool).await? {
                                    out.push(product(r)?);
                                }
                            }
                            page.last().copied().unwrap_or(0)
                        }
                    };
                    let n = out.len();
                    data.products.get_or_insert_with(Vec::new).extend(out);
                    (n, last)
                }
                "customers" => {
                    let mut out = Vec::new();
                    let last = fetch!(B, pool, window, sid,
                    time: format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE updated_at > ? ORDER BY id"), [since],
                    version: format!("SELECT {CUSTOMER_COLUMNS} FROM customers
                        WHERE sync_version > ? AND sync_version <= ? AND id > ? ORDER BY id LIMIT ?"),
                    |f, t| [f.customers, t.customers],
                    out, |r| {
                        let uuid: String = r.try_get("customer_uuid")?;
                        DownloadCustomer {
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
                        }
                    });
                    let n = out.len();
                    data.customers.get_or_insert_with(Vec::new).extend(out);
                    (n, last)
                }
                _ => {
                    let mut out = Vec::new();
                    let last = fetch!(B, pool, window, sid,
                        time: format!("SELECT {MOVEMENT_COLUMNS}
                            FROM hq_stock_movements h JOIN stock_movements m ON m.movement_id = h.movement_id
                            JOIN products p ON p.id = m.product_id
                            WHERE h.store_id = ? AND h.created_at > ? ORDER BY m.id"), [store since],
                        version: format!("SELECT {MOVEMENT_COLUMNS}
                            FROM hq_stock_movements h JOIN stock_movements m ON m.movement_id = h.movement_id
                            JOIN products p ON p.id = m.product_id
                            WHERE h.store_id = ? AND h.sync_version > ? AND h.sync_version <= ?
                              AND m.id > ? ORDER BY m.id LIMIT ?"),
                        |f, t| [sid, f.store, t.store],
                        out, |r| movement_record!(B, r));
                    let n = out.len();
                    data.stock_movements
                        .get_or_insert_with(Vec::new)
                        .extend(out);
                    (n, last)
                }
            }
        });
        if advance(&mut cursor, table, got, last, &mut room) {
            break;
        }
    }
    // The store's settings: with a download by time that asks for them, and on the first page
    // of every round.
    if (cursor.is_none() && asked.tables.contains("settings")) || began {
        data.settings = Some(settings(&state, sid).await?);
    }
    match &mut cursor {
        Some(c) => {
            let r = c.round.expect("a round was begun above");
            answer.progress = Some(DownloadProgress {
                sent: r.sent.min(r.total),
                total: r.total,
            });
            if r.table >= ROUND.len() {
                // The round is complete: the next begins where it ended.
                c.from = r.to;
                c.round = None;
                answer.progress = Some(DownloadProgress {
                    sent: r.total,
                    total: r.total,
                });
            } else {
                answer.has_more = true;
            }
            answer.cursor = Some(c.encode());
        }
        None if asked.last_sync.is_none() && asked.tables.len() == DOWNLOAD_TABLES.len() => {
            // Everything was sent, changes after the counters read first included at worst.
            answer.cursor = Some(
                Cursor {
                    store: sid,
                    from: current,
                    round: None,
                }
                .encode(),
            );
        }
        None => {}
    }
    log_download(&state, sid, &asked, &data, now).await?;
    tracing::info!(target: "kasir::sync", store = %store.code, more = answer.has_more, "download");
    answer.data = data;
    Ok(axum::Json(answer))
}

/// Moves a round's cursor past `got` rows of `table` (the last id `last`); true when the page
/// is full.
fn advance(
    cursor: &mut Option<Cursor>,
    table: &str,
    got: usize,
    last: i64,
    room: &mut i64,
) -> bool {
    let Some(r) = cursor.as_mut().and_then(|c| c.round.as_mut()) else {
        return false;
    };
    r.sent += u64::try_from(got).unwrap_or(0);
    *room -= i64::try_from(got).unwrap_or(i64::MAX);
    r.table = ROUND.iter().position(|t| *t == table).unwrap_or(0);
    if *room <= 0 {
        // The page is full: this table goes on after the last id sent.
        r.after = last;
        return true;
    }
    // The table is done; the next begins at its first id.
    r.table += 1;
    r.after = 0;
    false
}

/// Rows a round from `from` to `to` will send (for its progress figure).
async fn count_round(state: &AppState, sid: i64, from: Versions, to: Versions) -> ApiResult<u64> {
    let n = on_db!(&state.db, |pool, B| {
        let row = sqlx::query(
            "SELECT
               (SELECT COUNT(*) FROM categories WHERE sync_version > ? AND sync_version <= ?) AS categories,
               (SELECT COUNT(*) FROM products p JOIN store_products sp ON sp.product_id = p.id AND sp.store_id = ?
                 WHERE p.sync_version > ? AND p.sync_version <= ?) AS products,
               (SELECT COUNT(*) FROM store_products sp JOIN products p ON p.id = sp.product_id
                 WHERE sp.store_id = ? AND sp.sync_version > ? AND sp.sync_version <= ?
                   AND NOT (p.sync_version > ? AND p.sync_version <= ?)) AS store_products,
               (SELECT COUNT(*) FROM customers WHERE sync_version > ? AND sync_version <= ?) AS customers,
               (SELECT COUNT(*) FROM hq_stock_movements h JOIN stock_movements m ON m.movement_id = h.movement_id
                 WHERE h.store_id = ? AND h.sync_version > ? AND h.sync_version <= ?) AS movements",
        )
        .bind(from.catalog)
        .bind(to.catalog)
        .bind(sid)
        .bind(from.catalog)
        .bind(to.catalog)
        .bind(sid)
        .bind(from.store)
        .bind(to.store)
        .bind(from.catalog)
        .bind(to.catalog)
        .bind(from.customers)
        .bind(to.customers)
        .bind(sid)
        .bind(from.store)
        .bind(to.store)
        .fetch_one(pool)
        .await?;
        [
            "categories",
            "products",
            "store_products",
            "customers",
            "movements",
        ]
        .iter()
        .map(|c| B::int(&row, c).map(u))
        .sum::<Result<u64, _>>()?
    });
    Ok(n)
}

async fn settings(state: &AppState, sid: i64) -> ApiResult<StoreSettings> {
    Ok(on_db!(&state.db, |pool, B| {
        let r = sqlx::query(
            "SELECT id, store_code, store_name, address, tax_rate, tax_inclusive, currency, timezone, cash_rounding
             FROM stores WHERE id = ?",
        )
        .bind(sid)
        .fetch_one(pool)
        .await?;
        StoreSettings {
            store_id: u(B::int(&r, "id")?),
            store_code: r.try_get("store_code")?,
            store_name: r.try_get("store_name")?,
            address: r.try_get("address")?,
            tax_rate: B::get_money(&r, "tax_rate")?,
            tax_inclusive: B::int(&r, "tax_inclusive")? != 0,
            currency: r.try_get("currency")?,
            timezone: r.try_get("timezone")?,
            cash_rounding: B::get_money(&r, "cash_rounding")?,
        }
    }))
}

/// The download's row in `sync_logs`.
async fn log_download(
    state: &AppState,
    sid: i64,
    asked: &Asked,
    data: &SyncDownloadData,
    started: DateTime<Utc>,
) -> ApiResult<()> {
    let count = [
        data.products.as_ref().map(Vec::len),
        data.categories.as_ref().map(Vec::len),
        data.customers.as_ref().map(Vec::len),
        data.stock_movements.as_ref().map(Vec::len),
    ]
    .into_iter()
    .flatten()
    .sum::<usize>();
    if asked.cursor.is_some() && count == 0 {
        // A poll that found nothing (a leader asks every few seconds) is not a sync to log.
        return Ok(());
    }
    let tables = if asked.cursor.is_some() {
        "cursor".to_string()
    } else {
        asked.tables.iter().cloned().collect::<Vec<_>>().join(",")
    };
    crate::sync::SyncLog {
        store: u(sid),
        sync_type: "download",
        table: &tables,
        records: count,
        ok: count,
        failed: 0,
        status: "completed",
        detail: None,
        started,
    }
    .write(&state.db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_goes_alone() {
        assert!(download_query("cursor=0&last_sync=2026-01-01T00:00:00Z").is_err());
        assert!(download_query("cursor=0&tables=products").is_err());
        assert!(download_query("limit=5").is_err());
        assert!(download_query("cursor=0&limit=0").is_err());
        assert_eq!(download_query("cursor=0&limit=10").unwrap().limit, Some(10));
    }
}
