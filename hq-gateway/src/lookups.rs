//! A cache of barcode lookups (`GET /api/products/barcode/…`), the route tills and HQ systems
//! hit hardest. An entry lives at most `barcode_cache_ms` (default 60 s; 0 turns the cache
//! off). Writes through this instance drop what they changed at once (the products whose stock
//! or price moved; the whole catalog for product changes). Every write also bumps a counter in
//! `change_versions` in its own transaction (`bump!`), and each instance reads those counters
//! every `change_poll_ms` (250 ms): bumps made by other instances drop the store's (or the
//! catalog's) entries here within that. A bump counted here whose transaction then failed can
//! hide one foreign bump in the same interval; the entry then lives out its time to live.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kasir_schema::wire::ProductListItem;

/// When an entry was read (`seq` before the read), and the answer.
type Entry = (Instant, u64, Option<ProductListItem>);

/// How long "no such product" is kept: a sale of a product the store never priced creates its
/// store row without moving any counter this cache keys on.
const NEGATIVE_TTL: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct Changes {
    catalog: u64,
    stores: HashMap<u64, u64>,
    products: HashMap<(u64, u64), u64>,
}

#[derive(Debug)]
pub struct LookupCache {
    ttl: Duration,
    /// Ticks once per change; an entry read at `seq = s` is stale once something it depends on
    /// changed at a later tick.
    seq: AtomicU64,
    changes: Mutex<Changes>,
    entries: Mutex<HashMap<(u64, String), Entry>>,
    /// Counter bumps this instance made since the watcher last looked, per scope.
    own_bumps: Mutex<HashMap<String, i64>>,
}

const MAX_ENTRIES: usize = 200_000;

impl LookupCache {
    pub fn new(ttl: Duration) -> LookupCache {
        LookupCache {
            ttl,
            seq: AtomicU64::new(0),
            changes: Mutex::new(Changes::default()),
            entries: Mutex::new(HashMap::new()),
            own_bumps: Mutex::new(HashMap::new()),
        }
    }

    fn fresh(&self, store: u64, read_at: u64, item: Option<&ProductListItem>) -> bool {
        let Ok(c) = self.changes.lock() else {
            return false;
        };
        c.catalog <= read_at
            && c.stores.get(&store).is_none_or(|s| *s <= read_at)
            && item.is_none_or(|i| c.products.get(&(store, i.id)).is_none_or(|p| *p <= read_at))
    }

    /// `Some(answer)` when a fresh one is cached (the answer may be "no such product").
    pub fn get(&self, store: u64, barcode: &str) -> Option<Option<ProductListItem>> {
        if self.ttl.is_zero() {
            return None;
        }
        let (at, read_at, item) = {
            let map = self.entries.lock().ok()?;
            map.get(&(store, barcode.to_string()))?.clone()
        };
        let ttl = if item.is_some() {
            self.ttl
        } else {
            NEGATIVE_TTL.min(self.ttl)
        };
        (at.elapsed() < ttl && self.fresh(store, read_at, item.as_ref())).then_some(item)
    }

    /// The tick to pass to [`LookupCache::put`], read before the database is.
    pub fn tick(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// Remembers an answer read after `tick()` returned `read_at`.
    pub fn put(&self, store: u64, barcode: &str, read_at: u64, item: Option<ProductListItem>) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut map) = self.entries.lock() {
            if map.len() >= MAX_ENTRIES {
                let ttl = self.ttl;
                map.retain(|_, (at, ..)| at.elapsed() < ttl);
                if map.len() >= MAX_ENTRIES {
                    map.clear();
                }
            }
            map.insert(
                (store, barcode.to_string()),
                (Instant::now(), read_at, item),
            );
        }
    }

    fn next(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Everything of `store` may have changed (a write through another instance).
    pub fn store_changed(&self, store: u64) {
        let at = self.next();
        if let Ok(mut c) = self.changes.lock() {
            c.stores.insert(store, at);
        }
    }

    /// These products of `store` changed (stock, price) through this instance.
    pub fn products_changed(&self, store: u64, products: impl IntoIterator<Item = u64>) {
        let at = self.next();
        if let Ok(mut c) = self.changes.lock() {
            for p in products {
                c.products.insert((store, p), at);
            }
        }
    }

    pub fn catalog_changed(&self) {
        let at = self.next();
        if let Ok(mut c) = self.changes.lock() {
            c.catalog = at;
        }
    }

    /// Call before committing a transaction that bumps `scope`, so the watcher can tell this
    /// instance's bumps (already applied here, finer) from other instances'.
    pub fn own_bump(&self, scope: &str) {
        if let Ok(mut m) = self.own_bumps.lock() {
            *m.entry(scope.to_string()).or_default() += 1;
        }
    }

    fn take_own_bumps(&self) -> HashMap<String, i64> {
        self.own_bumps
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default()
    }
}

/// Bumps the change counter `scope` (`catalog`, or [`store_scope`]) through the caller's
/// executor, inside the transaction of the change.
macro_rules! bump {
    ($B:ident, $tx:expr, $scope:expr, $cache:expr) => {{
        let sql = if $B::IS_MYSQL {
            "INSERT INTO change_versions (scope, version) VALUES (?, 1)
             ON DUPLICATE KEY UPDATE version = version + 1"
        } else {
            "INSERT INTO change_versions (scope, version) VALUES (?, 1)
             ON CONFLICT(scope) DO UPDATE SET version = version + 1"
        };
        let scope: String = $scope.to_string();
        sqlx::query(sql).bind(&scope).execute($tx).await?;
        $cache.own_bump(&scope);
    }};
}
pub(crate) use bump;

/// Bumps the change counter `scope` ([`bump!`]) and evaluates to its new version: the
/// download version (`sync_version`) of the rows the change writes, which `GET
/// /api/sync/download?cursor=` pages by. The counter's row stays locked until the change's
/// transaction commits, so versions are handed out in commit order
/// (`schema/sql/hq/0007_download_versions.sql` says why that makes the cursor exact); take it
/// late in the transaction where the rows are known (see [`stamp!`]), or first where the
/// change writes the version into its own statements (a product, an import).
macro_rules! next_version {
    ($B:ident, $tx:ident, $scope:expr, $cache:expr) => {{
        let scope: String = $scope.to_string();
        $crate::lookups::bump!($B, &mut *$tx, &scope, $cache);
        let version: i64 =
            sqlx::query_scalar("SELECT version FROM change_versions WHERE scope = ?")
                .bind(&scope)
                .fetch_one(&mut *$tx)
                .await?;
        version
    }};
}
pub(crate) use next_version;

/// [`next_version!`], then the rows the change wrote stamped with it: `$sql` is an
/// `UPDATE … SET sync_version = ?, updated_at = updated_at WHERE … IN ({})` (the assignment
/// keeps MySQL's `ON UPDATE CURRENT_TIMESTAMP` off: a stamp is not a change), bound with the
/// version, then `$pre`, then a chunk of `$keys`. Called as the last write of the change's
/// transaction.
macro_rules! stamp {
    ($B:ident, $tx:ident, $scope:expr, $cache:expr, $sql:literal, [$($pre:expr),*], $keys:expr) => {{
        let version = $crate::lookups::next_version!($B, $tx, $scope, $cache);
        for chunk in $keys.chunks(1000) {
            let sql = format!($sql, $crate::ingest::in_list(chunk.len()));
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(version);
            $( q = q.bind($pre); )*
            for k in chunk {
                q = q.bind(k);
            }
            q.execute(&mut *$tx).await?;
        }
        version
    }};
}
pub(crate) use stamp;

pub const CATALOG: &str = "catalog";
/// Customers' identities (the download's `customers`).
pub const CUSTOMERS: &str = "customers";

pub fn store_scope(store: u64) -> String {
    format!("store:{store}")
}

/// Reads the change counters every `every` and drops what other instances' writes made stale.
pub fn spawn_watcher(
    db: crate::db::Db,
    cache: std::sync::Arc<LookupCache>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen: HashMap<String, i64> = HashMap::new();
        let mut first = true;
        loop {
            let rows: Result<Vec<(String, i64)>, crate::error::ApiError> = async {
                Ok(crate::on_db!(&db, |pool, B| {
                    let rows = sqlx::query("SELECT scope, version FROM change_versions")
                        .fetch_all(pool)
                        .await?;
                    let mut out = Vec::with_capacity(rows.len());
                    for r in &rows {
                        out.push((sqlx::Row::try_get(r, "scope")?, B::int(r, "version")?));
                    }
                    out
                }))
            }
            .await;
            let own = cache.take_own_bumps();
            match rows {
                Ok(rows) => {
                    for (scope, version) in rows {
                        let before = seen.insert(scope.clone(), version);
                        if first {
                            continue;
                        }
                        // Only this instance's own bumps (already applied here): nothing to do.
                        let moved = version - before.unwrap_or(0);
                        if moved <= own.get(&scope).copied().unwrap_or(0) {
                            continue;
                        }
                        if scope == CATALOG {
                            cache.catalog_changed();
                        } else if let Some(id) =
                            scope.strip_prefix("store:").and_then(|s| s.parse().ok())
                        {
                            cache.store_changed(id);
                        }
                    }
                    first = false;
                }
                Err(e) => {
                    tracing::warn!(target: "kasir::api", error = %e.message, "change counters")
                }
            }
            tokio::time::sleep(every).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: u64) -> ProductListItem {
        ProductListItem {
            id,
            barcode: None,
            sku: format!("S{id}"),
            name: "x".into(),
            category: None,
            selling_price: kasir_schema::Decimal::ONE,
            stock_quantity: kasir_schema::Decimal::ONE,
            is_available: true,
            min_stock: kasir_schema::Decimal::ZERO,
            max_stock: kasir_schema::Decimal::ONE,
            location: None,
            last_restocked: None,
        }
    }

    #[test]
    fn writes_and_time_make_entries_stale() {
        let c = LookupCache::new(Duration::from_millis(300));
        c.put(1, "a", c.tick(), Some(item(10)));
        c.put(1, "b", c.tick(), Some(item(11)));
        c.put(2, "a", c.tick(), Some(item(10)));
        assert_eq!(c.get(1, "a"), Some(Some(item(10))));
        // Product 10 of store 1 moved: only that entry is stale.
        c.products_changed(1, [10]);
        assert_eq!(c.get(1, "a"), None);
        assert!(c.get(1, "b").is_some());
        assert!(c.get(2, "a").is_some());
        // A whole store, then the catalog.
        c.store_changed(1);
        assert_eq!(c.get(1, "b"), None);
        assert!(c.get(2, "a").is_some());
        c.catalog_changed();
        assert_eq!(c.get(2, "a"), None);
        // An answer read before a write is not kept as fresh after it.
        let t = c.tick();
        c.products_changed(1, [10]);
        c.put(1, "a", t, Some(item(10)));
        assert_eq!(c.get(1, "a"), None);
        // "No such product" lives a second at most; anything lives the TTL at most.
        c.put(1, "zzz", c.tick(), None);
        assert_eq!(c.get(1, "zzz"), Some(None));
        c.put(1, "a", c.tick(), Some(item(10)));
        std::thread::sleep(Duration::from_millis(310));
        assert_eq!(c.get(1, "a"), None);
        let off = LookupCache::new(Duration::ZERO);
        off.put(1, "a", off.tick(), None);
        assert_eq!(off.get(1, "a"), None);
    }

    #[test]
    fn own_bumps_are_counted_until_taken() {
        let c = LookupCache::new(Duration::from_secs(1));
        c.own_bump("store:1");
        c.own_bump("store:1");
        assert_eq!(c.take_own_bumps().get("store:1"), Some(&2));
        assert!(c.take_own_bumps().is_empty());
    }
}
