//! The outbox to HQ (`sync_queue`): every sale, movement, customer change, loyalty entry and
//! return is queued in the same transaction that stores it, and stays until HQ accepted it.
//!
//! A sale or return is an immutable record of a ledger document already, so its entry names
//! the record (`{"document": …, "record": …}`) instead of holding a second copy of its JSON;
//! [`Till::outbox_pending`] hands out the record itself.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use crate::db;
use crate::docs::DocId;
use crate::error::{NodeError, Result};
use crate::till::Till;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: i64,
    pub table_name: String,
    pub record_key: String,
    pub action: String,
    pub data_json: String,
    pub retry_count: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxResult {
    Success,
    Failed,
}

pub(crate) fn enqueue(
    conn: &Connection,
    table: &str,
    key: &str,
    action: &str,
    json: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    insert(conn, table, key, action, json, &db::ts(at))
}

/// Queues a record learned from a peer, unless this very version is queued already (the lane
/// wrote it itself, or projected it before). `at` is a stored time (`db::ts`).
pub(crate) fn enqueue_once(
    conn: &Connection,
    table: &str,
    key: &str,
    action: &str,
    json: &str,
    at: &str,
) -> Result<()> {
    let queued: bool = conn
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM sync_queue WHERE table_name = ?1 AND record_key = ?2 AND data_json = ?3)",
        )?
        .query_row(params![table, key, json], |r| r.get(0))?;
    if queued {
        return Ok(());
    }
    insert(conn, table, key, action, json, at)
}

/// The outbox row; born done when HQ confirmed the record already (another lane led and its
/// confirmation came first), and then it settles the record's earlier entries too
/// ([`crate::hq::settle_through`]).
fn insert(
    conn: &Connection,
    table: &str,
    key: &str,
    action: &str,
    json: &str,
    at: &str,
) -> Result<()> {
    let confirmed = crate::hq::is_confirmed(conn, table, key, json)?;
    conn.prepare_cached(
        "INSERT INTO sync_queue (table_name, record_key, action, data_json, created_at, sync_status)
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending')",
    )?
    .execute(params![table, key, action, json, at])?;
    if confirmed {
        crate::hq::settle_through(conn, table, key, conn.last_insert_rowid(), at)?;
    }
    Ok(())
}

/// Queues an immutable ledger record by reference (see the module documentation).
pub(crate) fn enqueue_record(
    conn: &Connection,
    table: &str,
    key: &str,
    document: DocId,
    record: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let reference = serde_json::json!({ "document": document.name(), "record": record });
    enqueue(conn, table, key, "insert", &reference.to_string(), at)
}

/// The record a reference entry names, as JSON.
pub(crate) fn resolve(till: &mut Till, data_json: &str) -> Result<String> {
    #[derive(serde::Deserialize)]
    struct Reference {
        document: String,
        record: String,
    }
    let Ok(r) = serde_json::from_str::<Reference>(data_json) else {
        return Ok(data_json.to_string());
    };
    let id = DocId::parse(&r.document)
        .ok_or_else(|| NodeError::Corrupt(format!("outbox names document {:?}", r.document)))?;
    let doc = till.doc(id)?;
    crate::docs::get_str(doc, &r.record).ok_or_else(|| {
        NodeError::Corrupt(format!(
            "outbox record {} missing from {}",
            r.record, r.document
        ))
    })
}

impl Till {
    /// Entries waiting for HQ (pending, or failed and due for a retry), oldest first, each with
    /// its record's JSON.
    pub fn outbox_pending(&mut self, limit: usize) -> Result<Vec<OutboxEntry>> {
        let mut entries: Vec<OutboxEntry> = {
            let mut stmt = self.conn.prepare_cached(
                "SELECT id, table_name, record_key, action, data_json, retry_count FROM sync_queue
                 WHERE sync_status IN ('pending', 'failed') ORDER BY id LIMIT ?1",
            )?;
            stmt.query_map([limit as i64], |r| {
                Ok(OutboxEntry {
                    id: r.get(0)?,
                    table_name: r.get(1)?,
                    record_key: r.get(2)?,
                    action: r.get(3)?,
                    data_json: r.get(4)?,
                    retry_count: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?
        };
        for e in &mut entries {
            e.data_json = resolve(self, &e.data_json)?;
        }
        Ok(entries)
    }

    /// Records what HQ answered for an entry.
    pub fn outbox_mark(
        &mut self,
        id: i64,
        result: OutboxResult,
        error: Option<&str>,
    ) -> Result<()> {
        let now = db::ts(self.now());
        self.write(|tx, _| {
            match result {
                OutboxResult::Success => tx.execute(
                    "UPDATE sync_queue SET sync_status = 'success', error_message = NULL, processed_at = ?2 WHERE id = ?1",
                    params![id, now],
                )?,
                OutboxResult::Failed => tx.execute(
                    "UPDATE sync_queue SET sync_status = 'failed', retry_count = retry_count + 1,
                        error_message = ?2, processed_at = ?3 WHERE id = ?1",
                    params![id, error, now],
                )?,
            };
            Ok(())
        })
    }

    /// Entries waiting for HQ (an index lookup, cheap enough for a status bar).
    pub fn outbox_waiting(&self) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM sync_queue WHERE sync_status IN ('pending', 'failed')",
            )?
            .query_row([], |r| r.get(0))?)
    }

    /// (waiting, accepted) entries.
    pub fn outbox_counts(&self) -> Result<(i64, i64)> {
        Ok(self.conn.query_row(
            "SELECT COALESCE(SUM(sync_status IN ('pending', 'failed')), 0),
                    COALESCE(SUM(sync_status = 'success'), 0) FROM sync_queue",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }
}
