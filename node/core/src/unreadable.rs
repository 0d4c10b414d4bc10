//! Records of a document that no projection can read: kept in the document untouched (so the
//! lanes still converge and a later edit can fix them), listed in `unreadable_records` with
//! their key and why, and logged once in `system_logs`. Never silently skipped.

use rusqlite::{Connection, OptionalExtension, params};

use crate::docs::DocId;
use crate::error::Result;
use crate::till::Till;

/// A record a projection could not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableRecord {
    pub doc: String,
    pub key: String,
    pub reason: String,
    pub first_seen: String,
}

/// Whether any record of `doc` is listed (so projecting a batch can skip clearing them).
pub(crate) fn any_in(conn: &Connection, doc: DocId) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM unreadable_records WHERE doc_id = ?1 LIMIT 1")?
        .query_row([doc.name()], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Lists a record as unreadable and logs it (once per record and reason).
pub(crate) fn flag(
    conn: &Connection,
    doc: DocId,
    key: &str,
    reason: &str,
    now: &str,
) -> Result<()> {
    let known: Option<String> = conn
        .prepare_cached(
            "SELECT reason FROM unreadable_records WHERE doc_id = ?1 AND record_key = ?2",
        )?
        .query_row(params![doc.name(), key], |r| r.get(0))
        .optional()?;
    if known.as_deref() == Some(reason) {
        return Ok(());
    }
    conn.prepare_cached(
        "INSERT INTO unreadable_records (doc_id, record_key, reason, first_seen) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(doc_id, record_key) DO UPDATE SET reason = excluded.reason",
    )?
    .execute(params![doc.name(), key, reason, now])?;
    conn.prepare_cached(
        "INSERT INTO system_logs (level, message, context_json, created_at) VALUES ('warning', ?1, ?2, ?3)",
    )?
    .execute(params![
        "unreadable record kept",
        serde_json::json!({ "document": doc.name(), "key": key, "reason": reason }).to_string(),
        now
    ])?;
    Ok(())
}

/// A record that reads now (fixed by a later edit) is no longer listed.
pub(crate) fn clear(conn: &Connection, doc: DocId, key: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM unreadable_records WHERE doc_id = ?1 AND record_key = ?2")?
        .execute(params![doc.name(), key])?;
    Ok(())
}

/// Sorts what a batch of records read into: the readable ones, with every unreadable one
/// flagged and every readable one cleared from the list.
pub(crate) fn sort<T>(
    conn: &Connection,
    doc: DocId,
    read: Vec<(String, std::result::Result<T, String>)>,
    now: &str,
) -> Result<Vec<T>> {
    let listed = any_in(conn, doc)?;
    let mut ok = Vec::with_capacity(read.len());
    for (key, r) in read {
        match r {
            Ok(v) => {
                if listed {
                    clear(conn, doc, &key)?;
                }
                ok.push(v);
            }
            Err(reason) => flag(conn, doc, &key, &reason, now)?,
        }
    }
    Ok(ok)
}

impl Till {
    /// Records no projection could read, oldest first.
    pub fn unreadable_records(&self) -> Result<Vec<UnreadableRecord>> {
        let mut stmt = self.conn.prepare(
            "SELECT doc_id, record_key, reason, first_seen FROM unreadable_records
             ORDER BY first_seen, doc_id, record_key",
        )?;
        Ok(stmt
            .query_map([], |r| {
                Ok(UnreadableRecord {
                    doc: r.get(0)?,
                    key: r.get(1)?,
                    reason: r.get(2)?,
                    first_seen: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }
}
