//! Shifts (cash sessions) of a lane: open with a float, pay-ins and pay-outs with a reason,
//! the X report at any time, and close with the counted cash → Z report.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kasir_schema::Decimal;
use kasir_schema::domain::ShiftId;
use kasir_schema::payment::PaymentMethod;
use kasir_schema::roles::Permission;
use kasir_schema::wire::ShiftReportRecord;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::auth::Approval;
use crate::db;
use crate::docs::{DocId, Origin};
use crate::error::{NodeError, Result};
use crate::outbox;
use crate::till::Till;

/// X report (mid-shift) and Z report (at close).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShiftReport {
    pub shift: ShiftId,
    pub lane: u16,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub opening_float: Decimal,
    pub transactions: u64,
    pub items: Decimal,
    pub gross_sales: Decimal,
    pub discounts: Decimal,
    pub tax: Decimal,
    pub rounding: Decimal,
    pub sales_by_method: BTreeMap<PaymentMethod, Decimal>,
    pub refunds: u64,
    pub refunds_by_method: BTreeMap<PaymentMethod, Decimal>,
    pub pay_ins: Decimal,
    pub pay_outs: Decimal,
    pub expected_cash: Decimal,
    pub counted_cash: Option<Decimal>,
    /// Counted minus expected: positive is over, negative is short.
    pub over_short: Option<Decimal>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CashMove {
    PayIn,
    PayOut,
}

/// The Z report as it travels (ledger record, outbox, upload).
fn report_record(
    r: &ShiftReport,
    opened_by: i64,
    closed_by: i64,
    counted_cash: Decimal,
    closed_at: DateTime<Utc>,
) -> ShiftReportRecord {
    ShiftReportRecord {
        shift_id: r.shift,
        lane_no: r.lane,
        opened_by: opened_by.cast_unsigned(),
        closed_by: closed_by.cast_unsigned(),
        opened_at: r.opened_at,
        closed_at,
        opening_float: r.opening_float,
        transactions: r.transactions,
        items: r.items,
        gross_sales: r.gross_sales,
        discounts: r.discounts,
        tax: r.tax,
        rounding: r.rounding,
        sales_by_method: r.sales_by_method.clone(),
        refunds: r.refunds,
        refunds_by_method: r.refunds_by_method.clone(),
        pay_ins: r.pay_ins,
        pay_outs: r.pay_outs,
        expected_cash: r.expected_cash,
        counted_cash,
        over_short: counted_cash - r.expected_cash,
    }
}

/// Projects a Z report (this lane's or another's) and queues it for HQ, once; this lane's
/// own closes its shift. Returns whether it was new here.
pub(crate) fn record_shift_report(
    conn: &Connection,
    r: &ShiftReportRecord,
    document: DocId,
) -> Result<bool> {
    let id = r.shift_id.to_string();
    let inserted = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO shift_reports (shift_id, lane_no, closed_at) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![id, r.lane_no, db::ts(r.closed_at)])?;
    if inserted == 0 {
        return Ok(false);
    }
    let json = serde_json::to_string(r).map_err(|e| NodeError::Invalid(e.to_string()))?;
    conn.prepare_cached(
        "UPDATE shifts SET closed_by = ?2, closed_at = ?3, counted_cash = ?4, z_report_json = ?5
         WHERE id = ?1 AND closed_at IS NULL",
    )?
    .execute(params![
        id,
        r.closed_by.cast_signed(),
        db::ts(r.closed_at),
        db::money(r.counted_cash)?,
        json
    ])?;
    outbox::enqueue_record(
        conn,
        "shift_reports",
        &id,
        document,
        &format!("z{}{id}", crate::docs::SEP),
        r.closed_at,
    )?;
    Ok(true)
}

/// A Z report whose every amount the lane can store exactly.
pub(crate) fn report_fits(r: &ShiftReportRecord) -> Result<()> {
    for v in [
        r.opening_float,
        r.gross_sales,
        r.discounts,
        r.tax,
        r.rounding,
        r.pay_ins,
        r.pay_outs,
        r.expected_cash,
        r.counted_cash,
        r.over_short,
    ]
    .iter()
    .chain(r.sales_by_method.values())
    .chain(r.refunds_by_method.values())
    {
        db::money(*v)?;
    }
    db::qty(r.items)?;
    if !(1..=999).contains(&r.lane_no) {
        return Err(NodeError::Invalid(format!(
            "lane {} out of range",
            r.lane_no
        )));
    }
    Ok(())
}

fn parse_method(s: &str) -> Result<PaymentMethod> {
    s.parse()
        .map_err(|e: kasir_schema::text_enum::UnknownValue| NodeError::Corrupt(e.to_string()))
}

impl Till {
    /// The open shift of this lane, if any. (Kept in memory once read: only this handle opens
    /// and closes the lane's shifts.)
    pub fn current_shift(&self) -> Result<Option<ShiftId>> {
        if let Some(known) = self.open_shift.get() {
            return Ok(known);
        }
        let lane = self.lane()?;
        let id: Option<String> = self
            .conn
            .prepare_cached("SELECT id FROM shifts WHERE lane_no = ?1 AND closed_at IS NULL")?
            .query_row([lane.get()], |r| r.get(0))
            .optional()?;
        let shift = id
            .map(|s| {
                s.parse()
                    .map_err(|_| NodeError::Corrupt(format!("shift id {s}")))
            })
            .transpose()?;
        self.open_shift.set(Some(shift));
        Ok(shift)
    }

    /// Opens a shift with the cash float put in the drawer.
    pub fn open_shift(&mut self, opening_float: Decimal) -> Result<ShiftId> {
        let user = self.session()?.user_id;
        let lane = self.lane()?;
        if opening_float < Decimal::ZERO {
            return Err(NodeError::Invalid("the float must not be negative".into()));
        }
        if self.current_shift()?.is_some() {
            return Err(NodeError::ShiftAlreadyOpen);
        }
        let id = ShiftId(self.env.new_id());
        let now = self.now();
        self.write(|tx, _| {
            tx.execute(
                "INSERT INTO shifts (id, lane_no, opened_by, opened_at, opening_float) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id.to_string(), lane.get(), user, db::ts(now), db::money(opening_float)?],
            )?;
            Till::log(
                tx,
                "info",
                "shift opened",
                serde_json::json!({ "shift": id, "float": opening_float }),
                Some(user),
                None,
                now,
            )
        })?;
        self.open_shift.set(Some(Some(id)));
        Ok(id)
    }

    /// Cash put into (pay-in) or taken out of (pay-out) the drawer outside a sale.
    pub fn cash_move(
        &mut self,
        kind: CashMove,
        amount: Decimal,
        reason: &str,
        approval: Option<&Approval>,
    ) -> Result<()> {
        let approver = self.authorize(Permission::CashInOut, approval)?;
        let user = self.session()?.user_id;
        let shift = self.current_shift()?.ok_or(NodeError::NoOpenShift)?;
        if amount <= Decimal::ZERO {
            return Err(NodeError::Invalid("amount must be more than zero".into()));
        }
        if reason.trim().is_empty() {
            return Err(NodeError::Invalid("a reason is required".into()));
        }
        let now = self.now();
        let kind_str = match kind {
            CashMove::PayIn => "pay_in",
            CashMove::PayOut => "pay_out",
        };
        self.write(|tx, _| {
            tx.execute(
                "INSERT INTO cash_movements (shift_id, kind, amount, reason, user_id, approved_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![shift.to_string(), kind_str, db::money(amount)?, reason.trim(), user, approver, db::ts(now)],
            )?;
            Till::log(
                tx,
                "info",
                kind_str,
                serde_json::json!({ "amount": amount, "reason": reason }),
                Some(user),
                approver,
                now,
            )
        })
    }

    fn shift_report(
        &self,
        shift: ShiftId,
        counted: Option<Decimal>,
        closed_at: Option<DateTime<Utc>>,
    ) -> Result<ShiftReport> {
        let sid = shift.to_string();
        let (lane, opened_at, float): (u16, String, i64) = self.conn.query_row(
            "SELECT lane_no, opened_at, opening_float FROM shifts WHERE id = ?1",
            [&sid],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let (transactions, gross, discounts, tax, rounding): (i64, i64, i64, i64, i64) = self.conn.query_row(
            "SELECT count(*), COALESCE(SUM(total_amount), 0), COALESCE(SUM(discount_amount), 0),
                    COALESCE(SUM(tax_amount), 0), COALESCE(SUM(rounding_amount), 0)
             FROM transactions WHERE shift_id = ?1",
            [&sid],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        let items: i64 = self.conn.query_row(
            "SELECT COALESCE(SUM(d.quantity), 0) FROM transaction_details d JOIN transactions t ON t.id = d.transaction_id
             WHERE t.shift_id = ?1",
            [&sid],
            |r| r.get(0),
        )?;
        let mut sales_by_method = BTreeMap::new();
        let mut stmt = self.conn.prepare_cached(
            "SELECT p.payment_method, SUM(p.amount) FROM payment_details p JOIN transactions t ON t.id = p.transaction_id
             WHERE t.shift_id = ?1 GROUP BY p.payment_method",
        )?;
        for row in stmt.query_map([&sid], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })? {
            let (m, a) = row?;
            sales_by_method.insert(parse_method(&m)?, db::money_out(a));
        }
        let mut refunds_by_method = BTreeMap::new();
        let mut refunds = 0u64;
        let mut stmt = self.conn.prepare_cached(
            "SELECT refund_method, SUM(refund_amount), count(*) FROM returns WHERE shift_id = ?1 GROUP BY refund_method",
        )?;
        for row in stmt.query_map([&sid], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })? {
            let (m, a, n) = row?;
            refunds += n.unsigned_abs();
            refunds_by_method.insert(parse_method(&m)?, db::money_out(a));
        }
        let (pay_ins, pay_outs): (i64, i64) = self.conn.query_row(
            "SELECT COALESCE(SUM(CASE WHEN kind = 'pay_in' THEN amount END), 0),
                    COALESCE(SUM(CASE WHEN kind = 'pay_out' THEN amount END), 0)
             FROM cash_movements WHERE shift_id = ?1",
            [&sid],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let (pay_ins, pay_outs) = (db::money_out(pay_ins), db::money_out(pay_outs));
        let opening_float = db::money_out(float);
        let cash = |m: &BTreeMap<PaymentMethod, Decimal>| {
            m.get(&PaymentMethod::Cash).copied().unwrap_or_default()
        };
        let expected_cash =
            opening_float + cash(&sales_by_method) - cash(&refunds_by_method) + pay_ins - pay_outs;
        Ok(ShiftReport {
            shift,
            lane,
            opened_at: db::parse_ts(&opened_at)?,
            closed_at,
            opening_float,
            transactions: transactions.unsigned_abs(),
            items: db::qty_out(items),
            gross_sales: db::money_out(gross),
            discounts: db::money_out(discounts),
            tax: db::money_out(tax),
            rounding: db::money_out(rounding),
            sales_by_method,
            refunds,
            refunds_by_method,
            pay_ins,
            pay_outs,
            expected_cash,
            counted_cash: counted,
            over_short: counted.map(|c| c - expected_cash),
        })
    }

    /// The X report of the open shift (nothing is closed).
    pub fn x_report(&self, approval: Option<&Approval>) -> Result<ShiftReport> {
        self.authorize(Permission::ViewShiftReport, approval)?;
        let shift = self.current_shift()?.ok_or(NodeError::NoOpenShift)?;
        self.shift_report(shift, None, None)
    }

    /// Closes the open shift with the cash counted in the drawer and returns the Z report.
    pub fn close_shift(
        &mut self,
        counted_cash: Decimal,
        approval: Option<&Approval>,
    ) -> Result<ShiftReport> {
        let approver = self.authorize(Permission::CloseShift, approval)?;
        let user = self.session()?.user_id;
        if counted_cash < Decimal::ZERO {
            return Err(NodeError::Invalid(
                "counted cash must not be negative".into(),
            ));
        }
        if !self.cart.is_empty() {
            return Err(NodeError::Invalid(
                "finish, park or void the open cart first".into(),
            ));
        }
        let shift = self.current_shift()?.ok_or(NodeError::NoOpenShift)?;
        let mut now = self.now();
        let mut report = self.shift_report(shift, Some(counted_cash), Some(now))?;
        // A clock set back during the shift (an NTP correction, a wrong clock fixed) cannot
        // make it end before it began: HQ refuses such a Z report for good (found by the
        // simulator, issue #14).
        if report.opened_at > now {
            now = report.opened_at;
            report = self.shift_report(shift, Some(counted_cash), Some(now))?;
        }
        let opened_by: i64 = self
            .conn
            .prepare_cached("SELECT opened_by FROM shifts WHERE id = ?1")?
            .query_row([shift.to_string()], |r| r.get(0))?;
        let record = report_record(&report, opened_by, user, counted_cash, now);
        let json = serde_json::to_string(&record).map_err(|e| NodeError::Invalid(e.to_string()))?;
        let doc = DocId::Ledger(now.date_naive(), Origin::Lane(report.lane));
        // The Z report is a record of the lane's ledger document (it travels to the other
        // lanes and through the leader to HQ); its projection closes the shift here.
        self.write_ledger(|tx, docs| {
            docs.edit(tx, doc, |d| {
                crate::docs::put_record(d, "z", &shift.to_string(), &json)
            })?;
            Till::log(
                tx,
                if report.over_short.unwrap_or_default().is_zero() { "info" } else { "warning" },
                "shift closed",
                serde_json::json!({ "shift": shift, "expected": report.expected_cash, "counted": counted_cash,
                                    "over_short": report.over_short }),
                Some(user),
                approver,
                now,
            )
        })?;
        self.logs_pending = true;
        self.pending
            .push(crate::sale::Pending::ShiftReport(record, doc));
        // The report is stored: a failed projection stays pending (retried by the next write,
        // or when the lane opens).
        let _ = self.project_pending();
        self.open_shift.set(Some(None));
        Ok(report)
    }
}
