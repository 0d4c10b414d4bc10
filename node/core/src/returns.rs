//! Returns and refunds of committed sales, by transaction number: partial or full, never more
//! than sold minus already returned, with approval; stock goes back, loyalty is reversed, the
//! refund is paid by an original method or in cash.

use kasir_schema::Decimal;
use kasir_schema::domain::SaleId;
use kasir_schema::money::{round_down, round_half_up};
use kasir_schema::payment::PaymentMethod;
use kasir_schema::roles::Permission;
use rusqlite::{Connection, params};

use crate::auth::Approval;
use crate::db;
use crate::docs::{self, DocStore, Origin, Tx};
use crate::error::{NodeError, Result};
use crate::outbox;
use crate::stock::{apply_effects, ledger_doc};
use crate::till::Till;

/// One line to return: which line of the sale, and how much of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReturnItem {
    pub line_no: u16,
    pub quantity: Decimal,
}

pub use kasir_schema::domain::{Return as ReturnRecord, ReturnLine as ReturnLineRecord};

/// Stores a return in the projection once; returns whether it was new.
pub(crate) fn project_return(conn: &Connection, r: &ReturnRecord) -> Result<bool> {
    let inserted = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO returns (return_id, return_number, sale_id, lane_no, shift_id, refund_method,
                refund_amount, tax_amount, points_reversed, created_by, approved_by, reason, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?
        .execute(params![
            r.id.to_string(),
            r.number,
            r.sale_id.to_string(),
            r.lane,
            r.shift.map(|s| s.to_string()),
            r.refund_method.as_str(),
            db::money(r.refund_amount)?,
            db::money(r.tax_amount)?,
            r.points_reversed,
            r.created_by as i64,
            r.approved_by.map(|a| a as i64),
            r.reason,
            db::ts(r.created_at),
        ])?;
    if inserted == 0 {
        return Ok(false);
    }
    for l in &r.lines {
        conn.prepare_cached(
            "INSERT INTO return_lines (return_id, sale_id, line_no, sku, quantity, amount) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            r.id.to_string(),
            r.sale_id.to_string(),
            l.line_no,
            l.sku,
            db::qty(l.quantity)?,
            db::money(l.amount)?
        ])?;
    }
    // A sale whose every line went back is marked refunded.
    conn.prepare_cached(
        "UPDATE transactions SET payment_status = 'refunded' WHERE sale_id = ?1 AND NOT EXISTS (
            SELECT 1 FROM transaction_details d WHERE d.transaction_id = transactions.id AND d.quantity >
              (SELECT COALESCE(SUM(rl.quantity), 0) FROM return_lines rl WHERE rl.sale_id = ?1 AND rl.line_no = d.line_no))",
    )?
    .execute([r.sale_id.to_string()])?;
    Ok(true)
}

/// A return whose every amount and quantity the ledger can store exactly.
pub(crate) fn return_fits(r: &ReturnRecord) -> Result<()> {
    db::money(r.refund_amount)?;
    db::money(r.tax_amount)?;
    for l in &r.lines {
        crate::catalog::validate_sku(&l.sku)?;
        db::qty(l.quantity)?;
        db::money(l.amount)?;
        db::money(l.tax)?;
    }
    Ok(())
}

/// Projects a return and what it implies, and queues them for HQ, once.
pub(crate) fn record_return(conn: &Connection, r: &ReturnRecord) -> Result<bool> {
    if !project_return(conn, r)? {
        return Ok(false);
    }
    let id = r.id.to_string();
    outbox::enqueue_record(
        conn,
        "returns",
        &id,
        ledger_doc(r.created_at, Origin::Lane(r.lane)),
        &format!("r{}{id}", docs::SEP),
        r.created_at,
    )?;
    let (movements, loyalty) = r.effects();
    apply_effects(conn, &movements, &loyalty)?;
    Ok(true)
}

/// Writes a return's record into this lane's ledger document (in a transaction of the ledger
/// file; its projections follow, `Till::project_pending`).
fn put_return(tx: &Tx<'_>, docs: &mut DocStore, r: &ReturnRecord) -> Result<()> {
    let json = serde_json::to_string(r).map_err(|e| NodeError::Invalid(e.to_string()))?;
    docs.edit(tx, ledger_doc(r.created_at, Origin::Lane(r.lane)), |doc| {
        docs::put_new_record(doc, "r", &r.id.to_string(), &json)
    })
}

/// Already returned of one line of a sale: (quantity, amount).
fn returned_so_far(conn: &Connection, sale: SaleId, line_no: u16) -> Result<(Decimal, Decimal)> {
    let (q, a): (i64, i64) = conn.query_row(
        "SELECT COALESCE(SUM(quantity), 0), COALESCE(SUM(amount), 0) FROM return_lines WHERE sale_id = ?1 AND line_no = ?2",
        params![sale.to_string(), line_no],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((db::qty_out(q), db::money_out(a)))
}

impl Till {
    /// What can still be returned of each line of a sale: (line_no, quantity).
    pub fn returnable(&mut self, number: &str) -> Result<Vec<(u16, Decimal)>> {
        let sale = self.sale_by_number(number)?;
        sale.lines
            .iter()
            .map(|l| {
                Ok((
                    l.line_no,
                    l.quantity - returned_so_far(&self.conn, sale.id, l.line_no)?.0,
                ))
            })
            .collect()
    }

    /// Refunds part or all of a committed sale.
    pub fn refund(
        &mut self,
        number: &str,
        items: &[ReturnItem],
        method: PaymentMethod,
        reason: Option<String>,
        approval: Option<&Approval>,
    ) -> Result<ReturnRecord> {
        let approver = self.authorize(Permission::Refund, approval)?;
        let session = self.session()?.clone();
        let setup = self.setup.clone().ok_or(NodeError::NotInitialized)?;
        let shift = self.current_shift()?.ok_or(NodeError::NoOpenShift)?;
        let sale = self.sale_by_number(number)?;
        if items.is_empty() {
            return Err(NodeError::Invalid(
                "choose at least one line to return".into(),
            ));
        }
        if method != PaymentMethod::Cash && !sale.payments.iter().any(|p| p.method == method) {
            return Err(NodeError::Invalid(format!(
                "sale {number} was not paid by {}: refund by an original method or in cash",
                method.as_str()
            )));
        }
        let unit = setup.config.currency.unit();
        let mut lines = Vec::with_capacity(items.len());
        for item in items {
            if items.iter().filter(|i| i.line_no == item.line_no).count() > 1 {
                return Err(NodeError::Invalid(format!(
                    "line {} is listed twice",
                    item.line_no
                )));
            }
            let line = sale
                .lines
                .iter()
                .find(|l| l.line_no == item.line_no)
                .ok_or_else(|| {
                    NodeError::Invalid(format!("sale {number} has no line {}", item.line_no))
                })?;
            kasir_schema::checkout::Quantity::new(item.quantity)?;
            let (done_qty, done_amount) = returned_so_far(&self.conn, sale.id, line.line_no)?;
            let remaining = line.quantity - done_qty;
            if item.quantity > remaining {
                return Err(NodeError::ReturnExceedsSold {
                    line: line.line_no,
                    remaining,
                });
            }
            // The last part of a line takes exactly what is left, so a line returned in pieces
            // refunds exactly what was paid for it.
            let (amount, tax) = if item.quantity == remaining {
                let done_tax = round_half_up(line.tax_amount * done_qty / line.quantity, unit)?;
                (line.amount_due - done_amount, line.tax_amount - done_tax)
            } else {
                (
                    round_half_up(line.amount_due * item.quantity / line.quantity, unit)?,
                    round_half_up(line.tax_amount * item.quantity / line.quantity, unit)?,
                )
            };
            lines.push(ReturnLineRecord {
                line_no: line.line_no,
                sku: line.sku.clone(),
                quantity: item.quantity,
                amount,
                tax,
            });
        }
        let exact: Decimal = lines.iter().map(|l| l.amount).sum();
        let refund_amount = if method == PaymentMethod::Cash {
            round_half_up(exact, setup.config.cash_increment.get())?
        } else {
            exact
        };
        let already_reversed: i64 = self.conn.query_row(
            "SELECT COALESCE(SUM(points_reversed), 0) FROM returns WHERE sale_id = ?1",
            [sale.id.to_string()],
            |r| r.get(0),
        )?;
        let points_reversed = if sale.loyalty_points_earned > 0 && sale.total_amount > Decimal::ZERO
        {
            let share = round_down(
                Decimal::from(sale.loyalty_points_earned) * exact / sale.total_amount,
                Decimal::ONE,
            )?;
            i64::try_from(share)
                .unwrap_or(0)
                .min(sale.loyalty_points_earned - already_reversed)
                .max(0)
        } else {
            0
        };
        let now = self.now();
        let return_id = self.env.new_id();
        let record = self.write_ledger(|tx, docs| {
            let n = Till::next_number(tx, &setup)?;
            let record = ReturnRecord {
                id: return_id,
                store: setup.config.code.clone(),
                customer: sale.customer,
                number: n.to_string(),
                sale_id: sale.id,
                sale_number: sale.number.to_string(),
                lane: setup.lane.get(),
                shift: Some(shift),
                refund_method: method,
                refund_amount,
                tax_amount: lines.iter().map(|l| l.tax).sum(),
                points_reversed,
                created_by: session.user_id.cast_unsigned(),
                approved_by: approver.map(i64::cast_unsigned),
                reason: reason.clone(),
                created_at: now,
                lines: lines.clone(),
            };
            put_return(tx, docs, &record)?;
            Till::log(
                tx,
                "warning",
                "refund",
                serde_json::json!({ "sale": number, "return": record.number, "amount": refund_amount, "method": method }),
                Some(session.user_id),
                approver,
                now,
            )?;
            Ok(record)
        })?;
        self.logs_pending = true;
        self.pending
            .push(crate::sale::Pending::Return(record.clone()));
        // The return is stored: a failed projection stays pending (retried by the next write,
        // or when the lane opens), it does not make the refund look failed.
        let _ = self.project_pending();
        Ok(record)
    }
}
