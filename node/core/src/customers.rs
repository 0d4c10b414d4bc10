//! Customers (profiles in sharded `customers/NN` documents) and loyalty points, which are a
//! ledger of entries with their own ids: points = Σ entries (I4), kept in
//! `customers.loyalty_points` incrementally.

use std::collections::BTreeSet;

use automerge::AutoCommit;
use chrono::{DateTime, NaiveDate, Utc};
use kasir_schema::Decimal;
use kasir_schema::domain::{Customer, CustomerId, LoyaltyEntry};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::db;
use crate::docs::{self, DocId, DocStore, Tx};
use crate::error::{NodeError, Result};
use crate::outbox;
use crate::till::Till;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub customer_code: Option<String>,
    pub address: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerView {
    pub id: CustomerId,
    pub customer_code: Option<String>,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub points: i64,
    pub total_purchases: Decimal,
}

const VIEW_COLUMNS: &str =
    "customer_uuid, customer_code, name, phone, email, loyalty_points, total_purchases";

fn view_from_row(r: &Row<'_>) -> rusqlite::Result<CustomerView> {
    let id: String = r.get(0)?;
    Ok(CustomerView {
        id: id.parse().unwrap_or(CustomerId(uuid::Uuid::nil())),
        customer_code: r.get(1)?,
        name: r.get(2)?,
        phone: r.get(3)?,
        email: r.get(4)?,
        points: r.get(5)?,
        total_purchases: db::money_out(r.get(6)?),
    })
}

/// Indonesian mobile numbers as cashiers type them: `0812…`, `+62812…`, `62812…`, with spaces
/// or dashes. Stored normalized to `0812…`.
pub fn normalize_phone(input: &str) -> Result<String> {
    let digits: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    let digits = digits.strip_prefix('+').unwrap_or(&digits);
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(NodeError::Invalid(format!("phone {input:?}: digits only")));
    }
    let local = match digits.strip_prefix("62") {
        Some(rest) => format!("0{rest}"),
        None => digits.to_string(),
    };
    if !(8..=15).contains(&local.len()) || !local.starts_with('0') {
        return Err(NodeError::Invalid(format!(
            "phone {input:?}: expected a number like 0812 3456 7890"
        )));
    }
    Ok(local)
}

pub(crate) fn customer_fields(c: &Customer) -> Vec<(&'static str, Option<String>)> {
    vec![
        ("name", Some(c.name.clone())),
        ("code", c.customer_code.clone()),
        ("phone", c.phone.clone()),
        ("email", c.email.clone()),
        ("address", c.address.clone()),
        ("dob", c.date_of_birth.map(|d| d.to_string())),
        ("active", Some(if c.is_active { "1" } else { "0" }.into())),
    ]
}

fn customer_from_fields(id: &str, f: &docs::Fields) -> std::result::Result<Customer, String> {
    let r = docs::FieldReader(f);
    Ok(Customer {
        id: id
            .parse()
            .map_err(|_| format!("{id:?} is not a customer id"))?,
        customer_code: r.opt_text("code")?,
        name: r.text("name")?,
        email: r.opt_text("email")?,
        phone: r.opt_text("phone")?,
        address: r.opt_text("address")?,
        date_of_birth: r
            .opt_text("dob")?
            .map(|d| d.parse().map_err(|_| format!("dob: {d:?} is not a date")))
            .transpose()?,
        is_active: r.flag("active", true)?,
    })
}

pub(crate) fn project_customer(conn: &Connection, c: &Customer, now: &str) -> Result<()> {
    let id = c.id.to_string();
    conn.prepare_cached(
        "INSERT INTO customers (customer_uuid, customer_code, name, email, phone, address, date_of_birth, is_active, sync_status,
            created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?9)
         ON CONFLICT(customer_uuid) DO UPDATE SET customer_code = excluded.customer_code, name = excluded.name,
            email = excluded.email, phone = excluded.phone, address = excluded.address,
            date_of_birth = excluded.date_of_birth, is_active = excluded.is_active,
            updated_at = excluded.updated_at",
    )?
    .execute(params![
        id,
        c.customer_code,
        c.name,
        c.email,
        c.phone,
        c.address,
        c.date_of_birth.map(|d| d.to_string()),
        c.is_active,
        now
    ])?;
    // Points that arrived before the profile.
    conn.prepare_cached(
        "UPDATE customers SET loyalty_points =
            (SELECT COALESCE(SUM(points), 0) FROM loyalty_entries WHERE customer_uuid = ?1)
         WHERE customer_uuid = ?1",
    )?
    .execute([&id])?;
    Ok(())
}

/// Projects the records under `keys` (what a merge wrote), or all of them when `None`.
pub(crate) fn reproject_shard(
    conn: &Connection,
    doc: &AutoCommit,
    keys: Option<&BTreeSet<String>>,
    shard: DocId,
    now: &str,
) -> Result<usize> {
    let read = docs::records_with_fields(doc, keys)
        .into_iter()
        .map(|(id, mut fields)| {
            crate::hq::hq_wins_ties(doc, &id, &mut fields);
            let c = customer_from_fields(&id, &fields);
            (id, c)
        })
        .collect();
    let customers = crate::unreadable::sort(conn, shard, read, now)?;
    for c in &customers {
        project_customer(conn, c, now)?;
        // Every lane queues what it learns, so whichever leads can forward it.
        let json = serde_json::to_string(c).map_err(|x| NodeError::Invalid(x.to_string()))?;
        outbox::enqueue_once(conn, "customers", &c.id.to_string(), "update", &json, now)?;
    }
    Ok(customers.len())
}

/// Stores a loyalty entry in the projection once; returns whether it was new.
pub(crate) fn project_loyalty(conn: &Connection, e: &LoyaltyEntry) -> Result<bool> {
    let inserted = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO loyalty_entries (entry_id, customer_uuid, kind, points, sale_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            e.id.to_string(),
            e.customer.to_string(),
            e.kind.as_str(),
            e.points,
            e.sale.map(|s| s.to_string()),
            db::ts(e.created_at)
        ])?;
    if inserted == 1 {
        conn.prepare_cached(
            "UPDATE customers SET loyalty_points = loyalty_points + ?2 WHERE customer_uuid = ?1",
        )?
        .execute(params![e.customer.to_string(), e.points])?;
    }
    Ok(inserted == 1)
}

pub(crate) fn write_customer(
    conn: &Tx<'_>,
    docs: &mut DocStore,
    c: &Customer,
    at: DateTime<Utc>,
) -> Result<()> {
    let id = c.id.to_string();
    docs.edit(conn, DocId::customers_for(&id), |doc| {
        docs::put_fields(doc, &id, &customer_fields(c))
    })?;
    project_customer(conn, c, &db::ts(at))?;
    let json = serde_json::to_string(c).map_err(|x| NodeError::Invalid(x.to_string()))?;
    outbox::enqueue(conn, "customers", &id, "update", &json, at)
}

impl Till {
    /// Registers a loyalty customer. Phone numbers and codes are unique in the store.
    pub fn create_customer(&mut self, new: NewCustomer) -> Result<CustomerView> {
        self.session()?;
        let name = new.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 255 {
            return Err(NodeError::Invalid(
                "customer name is required (≤ 255 characters)".into(),
            ));
        }
        let phone = new.phone.as_deref().map(normalize_phone).transpose()?;
        if let Some(p) = &phone
            && let Some(existing) = self
                .find_customers(p, 1)?
                .into_iter()
                .find(|c| c.phone.as_deref() == Some(p))
        {
            return Err(NodeError::Invalid(format!(
                "phone {p} already belongs to {}",
                existing.name
            )));
        }
        if let Some(e) = &new.email
            && (!e.contains('@') || e.len() > 255)
        {
            return Err(NodeError::Invalid(format!("email {e:?}")));
        }
        let code = new
            .customer_code
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty());
        let c = Customer {
            id: CustomerId(self.env.new_id()),
            customer_code: code,
            name,
            email: new.email,
            phone,
            address: new.address,
            date_of_birth: new.date_of_birth,
            is_active: true,
        };
        let now = self.now();
        self.write(|tx, docs| write_customer(tx, docs, &c, now))
            .map_err(|e| match e {
                NodeError::Sql(s)
                    if s.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) =>
                {
                    NodeError::Invalid("customer code is already in use".into())
                }
                other => other,
            })?;
        self.customer(c.id)?
            .ok_or_else(|| NodeError::Corrupt("customer vanished after insert".into()))
    }

    pub fn customer(&self, id: CustomerId) -> Result<Option<CustomerView>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {VIEW_COLUMNS} FROM customers WHERE customer_uuid = ?1"
            ))?
            .query_row([id.to_string()], view_from_row)
            .optional()?)
    }

    /// Finds customers by phone (any format), exact member code, or name (prefix/substring).
    pub fn find_customers(&self, query: &str, limit: usize) -> Result<Vec<CustomerView>> {
        let q = query.trim();
        if q.is_empty() {
            return Ok(Vec::new());
        }
        let limit = limit.clamp(1, 100) as i64;
        if let Ok(phone) = normalize_phone(q) {
            let mut stmt = self.conn.prepare_cached(&format!(
                "SELECT {VIEW_COLUMNS} FROM customers WHERE phone = ?1 AND is_active = 1 LIMIT ?2"
            ))?;
            let hits: Vec<_> = stmt
                .query_map(params![phone, limit], view_from_row)?
                .collect::<rusqlite::Result<_>>()?;
            if !hits.is_empty() {
                return Ok(hits);
            }
        }
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {VIEW_COLUMNS} FROM customers WHERE is_active = 1 AND
               (customer_code = ?1 OR name LIKE ?2 OR name LIKE ?3)
             ORDER BY (customer_code = ?1) DESC, (name LIKE ?2) DESC, name LIMIT ?4"
        ))?;
        let clean = q.replace(['%', '_'], "");
        Ok(stmt
            .query_map(
                params![q, format!("{clean}%"), format!("%{clean}%"), limit],
                view_from_row,
            )?
            .collect::<rusqlite::Result<_>>()?)
    }

    /// Checks I4 on this lane: every customer's points equal the sum of their entries.
    pub fn loyalty_discrepancies(&self) -> Result<Vec<String>> {
        db::strings(
            &self.conn,
            "SELECT c.customer_uuid FROM customers c WHERE c.loyalty_points !=
               (SELECT COALESCE(SUM(points), 0) FROM loyalty_entries l WHERE l.customer_uuid = c.customer_uuid)",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_normalize_to_local_form() {
        for input in [
            "0812-3456-7890",
            "+62 812 3456 7890",
            "6281234567890",
            "0812 3456 7890",
        ] {
            assert_eq!(normalize_phone(input).unwrap(), "081234567890", "{input}");
        }
        for bad in ["12345", "abc", "0812-ABCD", "", "+1"] {
            assert!(normalize_phone(bad).is_err(), "{bad}");
        }
    }
}
