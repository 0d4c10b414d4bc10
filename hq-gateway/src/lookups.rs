//! A cache of barcode lookups (`GET /api/products/barcode/…`), the route tills and HQ systems
//! hit hardest. An entry lives at most `barcode_cache_ms` (default 60 s; 0 turns the cache
//! off). Writes through this instance drop what they may have changed at once (a store's stock
//! or prices: that store's entries; the catalog: every entry). Every write also bumps a counter
//! in `change_versions` in its own transaction (`bump!`), and each instance reads those
//! counters every `change_poll_ms` (250 ms): a write through another instance drops the
//! entries here within that.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kasir_schema::wire::ProductListItem;

type Entry = (Instant, u64, u64, Option<ProductListItem>);

#[derive(Debug)]
pub struct LookupCache {
    ttl: Duration,
    /// Bumped by catalog writes: every entry is stale.
    catalog: AtomicU64,
    /// Bumped per store by stock and price writes.
    stores: Mutex<HashMap<u64, u64>>,
    entries: Mutex<HashMap<(u64, String), Entry>>,
}

const MAX_ENTRIES: usize = 200_000;

impl LookupCache {
    pub fn new(ttl: Duration) -> LookupCache {
        LookupCache {
            ttl,
            catalog: AtomicU64::new(0),
            stores: Mutex::new(HashMap::new()),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn store_gen(&self, store: u64) -> u64 {
        self.stores
            .lock()
            .map(|m| m.get(&store).copied().unwrap_or(0))
            .unwrap_or(u64::MAX)
    }

    /// `Some(answer)` when a fresh one is cached (the answer may be "no such product").
    pub fn get(&self, store: u64, barcode: &str) -> Option<Option<ProductListItem>> {
        if self.ttl.is_zero() {
            return None;
        }
        let (catalog, generation) = (self.catalog.load(Ordering::Acquire), self.store_gen(store));
        let map = self.entries.lock().ok()?;
        let (at, c, g, item) = map.get(&(store, barcode.to_string()))?;
        (at.elapsed() < self.ttl && *c == catalog && *g == generation).then(|| item.clone())
    }

    /// Remembers an answer read after `generations()` returned `(catalog, store)`.
    pub fn put(&self, store: u64, barcode: &str, seen: (u64, u64), item: Option<ProductListItem>) {
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
                (Instant::now(), seen.0, seen.1, item),
            );
        }
    }

    /// The generations to pass to [`LookupCache::put`], read before the database is.
    pub fn generations(&self, store: u64) -> (u64, u64) {
        (self.catalog.load(Ordering::Acquire), self.store_gen(store))
    }

    pub fn store_changed(&self, store: u64) {
        if let Ok(mut m) = self.stores.lock() {
            *m.entry(store).or_default() += 1;
        }
    }

    pub fn catalog_changed(&self) {
        self.catalog.fetch_add(1, Ordering::AcqRel);
    }
}

/// Bumps the change counter `scope` (`catalog`, or [`store_scope`]) through the caller's
/// executor, inside the transaction of the change.
macro_rules! bump {
    ($B:ident, $tx:expr, $scope:expr) => {{
        let sql = if $B::IS_MYSQL {
            "INSERT INTO change_versions (scope, version) VALUES (?, 1)
             ON DUPLICATE KEY UPDATE version = version + 1"
        } else {
            "INSERT INTO change_versions (scope, version) VALUES (?, 1)
             ON CONFLICT(scope) DO UPDATE SET version = version + 1"
        };
        sqlx::query(sql).bind($scope).execute($tx).await?;
    }};
}
pub(crate) use bump;

pub const CATALOG: &str = "catalog";

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
            match rows {
                Ok(rows) => {
                    for (scope, version) in rows {
                        if seen.insert(scope.clone(), version) == Some(version) || first {
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

    #[test]
    fn writes_and_time_make_entries_stale() {
        let c = LookupCache::new(Duration::from_millis(50));
        let g = c.generations(1);
        c.put(1, "899", g, None);
        assert_eq!(c.get(1, "899"), Some(None));
        assert_eq!(c.get(2, "899"), None);
        c.store_changed(2);
        assert_eq!(c.get(1, "899"), Some(None));
        c.store_changed(1);
        assert_eq!(c.get(1, "899"), None);
        // An answer read before a write is not kept as fresh after it.
        let g = c.generations(1);
        c.catalog_changed();
        c.put(1, "899", g, None);
        assert_eq!(c.get(1, "899"), None);
        let g = c.generations(1);
        c.put(1, "899", g, None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(c.get(1, "899"), None);
        let off = LookupCache::new(Duration::ZERO);
        off.put(1, "899", off.generations(1), None);
        assert_eq!(off.get(1, "899"), None);
    }
}
