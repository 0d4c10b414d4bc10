//! Stock: every change is a movement with its own id, counted once; a SKU's stock is the sum
//! of its movements (I3): the stand-alone ones in `stock_movements` (receipts, counts, HQ
//! adjustments) plus sale lines (out) and return lines (in), together the `stock_ledger` view. The `products`
//! projection keeps that sum up to date incrementally. Negative stock is allowed and flagged,
//! never a reason to refuse a sale.

use chrono::{DateTime, Utc};
use kasir_schema::Decimal;
use kasir_schema::domain::{LoyaltyEntry, MovementId, MovementType, ReferenceType, StockMovement};
use kasir_schema::roles::Permission;
use rusqlite::{Connection, params};

use crate::auth::Approval;
use crate::catalog::ProductView;
use crate::db;
use crate::docs::{self, DocId, DocStore, Origin, Tx};
use crate::error::{NodeError, Result};
use crate::outbox;
use crate::till::Till;

/// The ledger document a record belongs to, fixed by the record itself (when and by whom it
/// was created), so every lane files it in the same place.
pub(crate) fn ledger_doc(at: DateTime<Utc>, origin: Origin) -> DocId {
    DocId::Ledger(at.date_naive(), origin)
}

/// Statements write at most this many rows each (bounded variants in the statement cache).
pub(crate) const ROWS_PER_STATEMENT: usize = 8;

/// Adds signed quantities (thousandths) to SKUs' projected stock. A SKU whose product has not
/// arrived yet keeps its stock in `early_stock` until it does (see migration 0006).
pub(crate) fn add_stock(conn: &Connection, moves: &[(&str, i64)]) -> Result<()> {
    let mut update = conn.prepare_cached(
        "UPDATE products SET stock_quantity = stock_quantity + ?2 WHERE sku = ?1",
    )?;
    for (sku, q) in moves {
        if update.execute(params![sku, q])? == 0 {
            conn.prepare_cached(
                "INSERT INTO early_stock (sku, quantity) VALUES (?1, ?2)
                 ON CONFLICT(sku) DO UPDATE SET quantity = quantity + excluded.quantity",
            )?
            .execute(params![sku, q])?;
        }
    }
    Ok(())
}

/// Applies what a new sale or return implies to the projections. Its lines are themselves
/// stock movements (see `stock_ledger`), so only the projected stock changes; its loyalty
/// entries are stored. Nothing derived is queued for HQ: HQ derives the same movements and
/// entries, with the same ids, from the record (`effects()` in kasir-schema).
pub(crate) fn apply_effects(
    conn: &Connection,
    movements: &[StockMovement],
    loyalty: &[LoyaltyEntry],
) -> Result<()> {
    let moves = movements
        .iter()
        .map(|m| Ok((m.sku.as_str(), db::qty(m.quantity)?)))
        .collect::<Result<Vec<_>>>()?;
    add_stock(conn, &moves)?;
    for e in loyalty {
        crate::customers::project_loyalty(conn, e)?;
    }
    Ok(())
}

/// Stores a movement in the projection once; returns whether it was new.
pub(crate) fn project_movement(conn: &Connection, m: &StockMovement) -> Result<bool> {
    let q = db::qty(m.quantity)?;
    let inserted = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO stock_movements (movement_id, sku, movement_type, quantity,
                reference_type, sale_id, notes, created_by, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            m.id.to_string(),
            m.sku,
            m.movement_type.as_str(),
            q,
            m.reference_type.as_str(),
            m.sale.map(|s| s.to_string()),
            m.notes,
            m.created_by.map(|c| c as i64),
            db::ts(m.created_at),
        ])?;
    if inserted == 1 {
        add_stock(conn, &[(m.sku.as_str(), q)])?;
    }
    Ok(inserted == 1)
}

/// Writes a stand-alone movement into its ledger document (in a transaction of the file
/// holding it).
fn put_movement(tx: &Tx<'_>, docs: &mut DocStore, m: &StockMovement, origin: Origin) -> Result<()> {
    let json = serde_json::to_string(m).map_err(|e| NodeError::Invalid(e.to_string()))?;
    docs.edit(tx, ledger_doc(m.created_at, origin), |doc| {
        docs::put_record(doc, "m", &m.id.to_string(), &json)
    })?;
    Ok(())
}

/// [`put_movement`], the projection and the outbox (once), in one transaction of the lane file
/// (HQ's movements, whose ledger documents live there).
pub(crate) fn write_movement(
    tx: &Tx<'_>,
    docs: &mut DocStore,
    m: &StockMovement,
    origin: Origin,
) -> Result<bool> {
    put_movement(tx, docs, m, origin)?;
    record_movement(tx, m, matches!(origin, Origin::Lane(_)))
}

/// Projects a movement and, when `for_hq` (a lane made it), queues it for HQ, once. Returns
/// whether it was new. HQ's own movements (`Origin::Hq`: its adjustments and receipts, applied
/// by the leader and merged by the other lanes) are never sent back to it: a lane that merged
/// one before the leader's confirmation did would otherwise upload it, and HQ answer
/// "duplicate" (found by `tests/tests/sim_hq_model.rs`).
pub(crate) fn record_movement(conn: &Connection, m: &StockMovement, for_hq: bool) -> Result<bool> {
    let new = project_movement(conn, m)?;
    if new && for_hq {
        let json = serde_json::to_string(m).map_err(|e| NodeError::Invalid(e.to_string()))?;
        outbox::enqueue(
            conn,
            "stock_movements",
            &m.id.to_string(),
            "insert",
            &json,
            m.created_at,
        )?;
    }
    Ok(new)
}

impl Till {
    fn existing_product(&self, sku: &str) -> Result<ProductView> {
        self.product(sku)?.ok_or_else(|| NodeError::NotFound {
            what: format!("product {sku}"),
            hint: Some("search by name or scan its barcode".into()),
        })
    }

    fn new_movement(
        &self,
        sku: &str,
        quantity: Decimal,
        movement_type: MovementType,
        reference_type: ReferenceType,
        notes: Option<String>,
    ) -> Result<StockMovement> {
        let now = self.now();
        Ok(StockMovement {
            id: MovementId(self.env.new_id()),
            store: self.config()?.code.clone(),
            sku: sku.to_string(),
            movement_type,
            reference_type,
            quantity,
            sale: None,
            notes,
            created_by: Some(self.session()?.user_id.cast_unsigned()),
            created_at: now,
        })
    }

    fn record_guarded_movement(
        &mut self,
        m: StockMovement,
        approver: Option<i64>,
        what: &str,
    ) -> Result<MovementId> {
        let actor = self.session()?.user_id;
        let now = self.now();
        let origin = Origin::Lane(self.lane()?.get());
        self.write_ledger(|tx, docs| {
            put_movement(tx, docs, &m, origin)?;
            Till::log(
                tx,
                "info",
                what,
                serde_json::json!({ "sku": m.sku, "quantity": m.quantity, "movement_id": m.id }),
                Some(actor),
                approver,
                now,
            )
        })?;
        self.logs_pending = true;
        let id = m.id;
        self.pending.push(crate::sale::Pending::Movement(m));
        // The movement is stored: a failed projection stays pending (retried by the next
        // write, or when the lane opens), it does not make it look failed.
        let _ = self.project_pending();
        Ok(id)
    }

    /// Goods received into the store (supervisors and managers, or with approval).
    pub fn receive_stock(
        &mut self,
        sku: &str,
        quantity: Decimal,
        notes: Option<String>,
        approval: Option<&Approval>,
    ) -> Result<MovementId> {
        let approver = self.authorize(Permission::ReceiveStock, approval)?;
        let q = kasir_schema::checkout::Quantity::new(quantity)?;
        self.existing_product(sku)?;
        let m = self.new_movement(
            sku,
            q.get(),
            MovementType::In,
            ReferenceType::Purchase,
            notes,
        )?;
        self.record_guarded_movement(m, approver, "stock received")
    }

    /// A stock count: records the difference between what was counted and what the till
    /// believed as one adjustment movement. Returns `None` when they agree.
    pub fn adjust_stock(
        &mut self,
        sku: &str,
        counted: Decimal,
        notes: Option<String>,
        approval: Option<&Approval>,
    ) -> Result<Option<MovementId>> {
        let approver = self.authorize(Permission::AdjustStock, approval)?;
        if counted < Decimal::ZERO
            || counted.normalize().scale() > 3
            || counted > Decimal::from(10_000_000)
        {
            return Err(NodeError::Invalid(format!(
                "counted quantity {counted}: 0 or more, at most 3 decimals"
            )));
        }
        let current = self.existing_product(sku)?.stock;
        let delta = counted - current;
        if delta.is_zero() {
            return Ok(None);
        }
        let m = self.new_movement(
            sku,
            delta,
            MovementType::Adjustment,
            ReferenceType::Adjustment,
            notes,
        )?;
        self.record_guarded_movement(m, approver, "stock adjusted")
            .map(Some)
    }

    /// A movement made elsewhere (an HQ adjustment or a transfer, through the leader). Applying
    /// the same movement again — here or on another lane — changes nothing. Returns whether it
    /// was new on this lane.
    pub fn apply_external_movement(&mut self, m: &StockMovement) -> Result<bool> {
        crate::catalog::validate_sku(&m.sku)?;
        if m.quantity.is_zero() || m.quantity.normalize().scale() > 3 {
            return Err(NodeError::Invalid(format!(
                "movement {}: quantity {}",
                m.id, m.quantity
            )));
        }
        self.write(|tx, docs| write_movement(tx, docs, m, Origin::Hq))
    }

    /// Products sold below zero (oversold while lanes were apart, or miscounted).
    pub fn oversold_products(&self) -> Result<Vec<ProductView>> {
        let mut out = Vec::new();
        for sku in db::strings(
            &self.conn,
            "SELECT sku FROM products WHERE stock_quantity < 0 ORDER BY sku",
        )? {
            out.extend(self.product(&sku)?);
        }
        Ok(out)
    }

    /// Checks I3 on this lane: every product's stock equals the sum of its movements
    /// (stand-alone movements, sale lines and return lines). Returns the SKUs where it does not.
    /// Also SKUs without a product whose movements `early_stock` does not hold. One pass over
    /// every sale line: a check for tests and the health screen, not for the till's hot path.
    pub fn stock_discrepancies(&self) -> Result<Vec<String>> {
        db::strings(
            &self.conn,
            "WITH sums AS (SELECT sku, SUM(quantity) AS q FROM stock_ledger GROUP BY sku)
             SELECT p.sku FROM products p LEFT JOIN sums s ON s.sku = p.sku
               WHERE p.stock_quantity != COALESCE(s.q, 0)
             UNION
             SELECT s.sku FROM sums s LEFT JOIN early_stock e ON e.sku = s.sku
               WHERE NOT EXISTS (SELECT 1 FROM products p WHERE p.sku = s.sku)
                 AND s.q != COALESCE(e.quantity, 0)
             ORDER BY 1",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn records_are_filed_by_utc_day_and_origin() {
        // 23:30 in Jakarta on the 23rd is 16:30 UTC the same day; 06:00 Jakarta is the day before.
        let evening = Utc.with_ymd_and_hms(2026, 11, 23, 16, 30, 0).unwrap();
        let early = Utc.with_ymd_and_hms(2026, 11, 22, 23, 0, 0).unwrap();
        assert_eq!(
            ledger_doc(evening, Origin::Lane(3)).name(),
            "ledger/2026-11-23/003"
        );
        assert_eq!(ledger_doc(early, Origin::Hq).name(), "ledger/2026-11-22/hq");
    }
}
