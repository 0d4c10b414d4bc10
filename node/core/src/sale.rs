//! Payment and commit: a sale is settled, numbered and made durable in the ledger file's inbox
//! (`commit_sale`); its ledger document change, rows, stock movements, loyalty entries and
//! outbox entry follow between customers (`project_pending`). Once `pay` returns, the sale is
//! durable (I2). What the receipt prints is in `receipt.rs`; merging other lanes' changes is in
//! `merge.rs`.

use std::collections::BTreeSet;

use kasir_schema::Decimal;
use kasir_schema::checkout::compute_totals;
use kasir_schema::domain::{Sale, SaleId, SaleLine, SalePayment, StockMovement};
use kasir_schema::money::round_down;
use kasir_schema::payment::{Tender, settle};
use rusqlite::{Connection, params};

use crate::cart::Cart;
use crate::db;
use crate::docs::{self, DocId, DocStore, Origin, Tx};
use crate::error::{NodeError, Result};
use crate::merge::{mark_projected, reproject_keys};
use crate::outbox;
use crate::receipt::{Receipt, ReceiptLine, looks_like_card_number};
use crate::returns::{self, ReturnRecord};
use crate::stock::{apply_effects, ledger_doc, record_movement};
use crate::till::Till;

pub use crate::merge::MergeOutcome;

/// The statement inserting `rows` sale lines (built once per row count).
fn insert_details_sql(rows: usize) -> &'static str {
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let all = SQL.get_or_init(|| {
        (0..=crate::stock::ROWS_PER_STATEMENT)
            .map(|n| {
                let rows: Vec<String> = (0..n)
                    .map(|i| {
                        let p: Vec<String> = (1..=13).map(|c| format!("?{}", i * 13 + c)).collect();
                        format!("({})", p.join(", "))
                    })
                    .collect();
                format!(
                    "INSERT INTO transaction_details (transaction_id, line_no, sku, product_name,
                        quantity, unit_price, discount_amount, total_price, transaction_discount_share,
                        tax_amount, amount_due, price_override_by, created_at) VALUES {}",
                    rows.join(", ")
                )
            })
            .collect()
    });
    &all[rows.min(crate::stock::ROWS_PER_STATEMENT)]
}

/// Stores a sale in the projection once; returns whether it was new.
pub(crate) fn project_sale(conn: &Connection, s: &Sale) -> Result<bool> {
    let inserted = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO transactions (sale_id, transaction_number, lane_no, shift_id, customer_uuid,
                cashier_id, transaction_date, subtotal, tax_amount, discount_amount, total_amount,
                cash_tendered, change_amount, rounding_amount, payment_method, payment_status, notes, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, 'paid', ?16, ?7, ?7)",
        )?
        .execute(params![
            s.id.to_string(),
            s.number.to_string(),
            s.lane.get(),
            s.shift.map(|x| x.to_string()),
            s.customer.map(|c| c.to_string()),
            s.cashier_id as i64,
            db::ts(s.created_at),
            db::money(s.subtotal)?,
            db::money(s.tax_amount)?,
            db::money(s.discount_amount)?,
            db::money(s.total_amount)?,
            db::money(s.cash_tendered)?,
            db::money(s.change_amount)?,
            db::money(s.rounding_amount)?,
            s.payment_method.as_str(),
            s.notes,
        ])?;
    if inserted == 0 {
        return Ok(false);
    }
    let tid = conn.last_insert_rowid();
    let at = db::ts(s.created_at);
    // A few lines per statement: one statement instead of one per line.
    for chunk in s.lines.chunks(crate::stock::ROWS_PER_STATEMENT) {
        const COLUMNS: usize = 13;
        let sql = insert_details_sql(chunk.len());
        let mut values: Vec<rusqlite::types::Value> = Vec::with_capacity(chunk.len() * COLUMNS);
        for l in chunk {
            use rusqlite::types::Value as V;
            values.extend([
                V::Integer(tid),
                V::Integer(i64::from(l.line_no)),
                V::Text(l.sku.clone()),
                V::Text(l.name.clone()),
                V::Integer(db::qty(l.quantity)?),
                V::Integer(db::money(l.unit_price)?),
                V::Integer(db::money(l.discount_amount)?),
                V::Integer(db::money(l.total_price)?),
                V::Integer(db::money(l.transaction_discount_share)?),
                V::Integer(db::money(l.tax_amount)?),
                V::Integer(db::money(l.amount_due)?),
                l.price_override_by
                    .map_or(V::Null, |v| V::Integer(v.cast_signed())),
                V::Text(at.clone()),
            ]);
        }
        conn.prepare_cached(sql)?
            .execute(rusqlite::params_from_iter(values))?;
    }
    let mut pay_stmt = conn.prepare_cached(
        "INSERT INTO payment_details (transaction_id, payment_method, amount, reference_number, payment_status, created_at)
         VALUES (?1, ?2, ?3, ?4, 'success', ?5)",
    )?;
    for p in &s.payments {
        pay_stmt.execute(params![
            tid,
            p.method.as_str(),
            db::money(p.amount)?,
            p.reference,
            db::ts(s.created_at)
        ])?;
    }
    if let Some(c) = s.customer {
        conn.prepare_cached(
            "UPDATE customers SET total_purchases = total_purchases + ?2, last_visit = ?3 WHERE customer_uuid = ?1",
        )?
        .execute(params![c.to_string(), db::money(s.total_amount)?, db::ts(s.created_at)])?;
    }
    Ok(true)
}

/// Projects a sale and what it implies, and queues them for HQ, once. Returns whether the
/// sale was new on this lane.
pub(crate) fn record_sale(conn: &Connection, s: &Sale) -> Result<bool> {
    if !project_sale(conn, s)? {
        return Ok(false);
    }
    let id = s.id.to_string();
    outbox::enqueue_record(
        conn,
        "transactions",
        &id,
        ledger_doc(s.created_at, Origin::Lane(s.lane.get())),
        &format!("s{}{id}", docs::SEP),
        s.created_at,
    )?;
    let (movements, loyalty) = s.effects();
    apply_effects(conn, &movements, &loyalty)?;
    Ok(true)
}

/// Writes a sale's record into its ledger document (in the caller's transaction of the file
/// holding it).
pub(crate) fn put_sale(tx: &Tx<'_>, docs: &mut DocStore, s: &Sale) -> Result<()> {
    let json = serde_json::to_string(s).map_err(|e| NodeError::Invalid(e.to_string()))?;
    docs.edit(
        tx,
        ledger_doc(s.created_at, Origin::Lane(s.lane.get())),
        |doc| docs::put_new_record(doc, "s", &s.id.to_string(), &json),
    )
}

/// Makes a sale of this lane durable without building its Automerge change: its record goes
/// to the ledger file's inbox (`ledger_inbox`, in the caller's transaction of the ledger file),
/// and [`move_inbox`] puts it into its ledger document between customers. Building and storing
/// the change was half the CPU of the cashier's commit.
pub(crate) fn hold_sale(tx: &Tx<'_>, s: &Sale) -> Result<()> {
    let json = serde_json::to_string(s).map_err(|e| NodeError::Invalid(e.to_string()))?;
    tx.ledger()
        .prepare_cached(
            "INSERT INTO ledger_inbox (doc_id, kind, record_id, value) VALUES (?1, 's', ?2, ?3)",
        )?
        .execute(params![
            ledger_doc(s.created_at, Origin::Lane(s.lane.get())).name(),
            s.id.to_string(),
            json
        ])?;
    Ok(())
}

/// Moves every record of the ledger file's inbox into its ledger document, in the order they
/// were held, and empties the inbox (in the caller's transaction of the ledger file). Nothing
/// else varies the change this builds: the same rows on the same document state give the same
/// change, so a move lost to a power cut (it is not fsynced on its own) is made again as the
/// change a peer may already hold. Returns how many records it moved.
pub(crate) fn move_inbox(tx: &Tx<'_>, docs: &mut DocStore) -> Result<usize> {
    let rows: Vec<(String, String, String, String)> = tx
        .ledger()
        .prepare_cached("SELECT doc_id, kind, record_id, value FROM ledger_inbox ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (doc_id, kind, id, value) in &rows {
        let doc = DocId::parse(doc_id)
            .ok_or_else(|| NodeError::Corrupt(format!("ledger inbox names document {doc_id}")))?;
        docs.edit(tx, doc, |d| docs::put_new_record(d, kind, id, value))?;
    }
    if !rows.is_empty() {
        tx.ledger()
            .prepare_cached("DELETE FROM ledger_inbox")?
            .execute([])?;
    }
    Ok(rows.len())
}

/// [`put_sale`] and its projections, in one transaction of the lane file (another lane's sale).
pub(crate) fn write_sale(tx: &Tx<'_>, docs: &mut DocStore, s: &Sale) -> Result<()> {
    put_sale(tx, docs, s)?;
    record_sale(tx, s)?;
    Ok(())
}

/// A record made durable in the ledger file whose projections are still to be written
/// ([`Till::project_pending`]).
#[derive(Debug, Clone)]
pub(crate) enum Pending {
    Sale(Sale),
    Return(ReturnRecord),
    Movement(StockMovement),
    /// A Z report and the ledger document holding it.
    ShiftReport(kasir_schema::wire::ShiftReportRecord, DocId),
}

impl Till {
    /// Takes payment for the open cart and commits the sale. On success the sale is durable,
    /// the cart is empty, its projections are written, and the receipt is returned
    /// ([`Till::commit_sale`] followed by [`Till::project_pending`]).
    pub fn pay(&mut self, tenders: &[Tender]) -> Result<Receipt> {
        let receipt = self.commit_sale(tenders)?;
        self.project_pending()?;
        Ok(receipt)
    }

    /// Takes payment for the open cart and makes the sale durable: its transaction number and
    /// its record in the ledger file's inbox, in one transaction with `synchronous = FULL`
    /// (I2, I5). That is all a cashier waits for. Its ledger document change and projections
    /// (the sale's rows, stock, loyalty, the outbox entry) are written by
    /// [`Till::project_pending`], which the caller
    /// runs right after — the till app does it once the receipt is on its way, between
    /// customers — and before anything else reads or writes this till. If the lane stops in
    /// between, opening it again projects what is missing (`Till::open`).
    ///
    /// The projections of the records before it (the last sale's, when a merge kept the lane
    /// file busy since: [`Till::try_project_pending`]) are written first only when a customer
    /// is attached, since the customer's points are the one projection the commit reads. A
    /// sale without a customer never waits for a merge: its commit touches the ledger file
    /// only, and its projections follow with the ones before it.
    pub fn commit_sale(&mut self, tenders: &[Tender]) -> Result<Receipt> {
        if self.cart.customer.is_some() {
            self.project_pending()?;
        }
        let session = self.session()?.clone();
        let setup = self.setup.clone().ok_or(NodeError::NotInitialized)?;
        let shift = self.current_shift()?.ok_or(NodeError::NoOpenShift)?;
        let cart: Cart = self.cart.clone();
        if cart.is_empty() {
            return Err(NodeError::EmptyCart);
        }
        for t in tenders {
            if let Some(r) = &t.reference
                && (looks_like_card_number(r) || r.chars().count() > 64)
            {
                return Err(NodeError::Invalid(
                    "payment reference looks like a card number: enter the approval code, never the card number".into(),
                ));
            }
        }
        let cfg = &setup.config;
        let discount = self.effective_transaction_discount(&cart)?;
        let totals = compute_totals(&cart.line_inputs(), discount, &self.pricing()?)?;
        let settlement = settle(totals.total_amount, tenders, cfg.cash_increment)?;
        let customer = match cart.customer {
            Some(id) => Some(self.customer(id)?.ok_or_else(|| NodeError::NotFound {
                what: "customer".into(),
                hint: None,
            })?),
            None => None,
        };
        if let Some(c) = &customer
            && cart.redeem_points > c.points
        {
            return Err(NodeError::NotEnoughPoints {
                available: c.points,
                requested: cart.redeem_points,
            });
        }
        let points_earned = match &customer {
            Some(_) if cfg.loyalty_spend_per_point > Decimal::ZERO => {
                let p = round_down(
                    totals.total_amount / cfg.loyalty_spend_per_point,
                    Decimal::ONE,
                )?;
                i64::try_from(p).unwrap_or(0)
            }
            _ => 0,
        };
        let now = self.now();
        let sale_id = SaleId(self.env.new_id());
        let lines: Vec<SaleLine> = cart
            .lines
            .iter()
            .zip(&totals.lines)
            .enumerate()
            .map(|(i, (c, t))| SaleLine {
                line_no: u16::try_from(i + 1).unwrap_or(u16::MAX),
                sku: c.sku.clone(),
                name: c.name.clone(),
                quantity: c.quantity.get(),
                unit_price: c.unit_price,
                discount_amount: t.discount_amount,
                total_price: t.total_price,
                transaction_discount_share: t.transaction_discount_share,
                tax_amount: t.tax_amount,
                amount_due: t.amount_due,
                price_override_by: c.price_override_by.map(i64::cast_unsigned),
            })
            .collect();
        let payments: Vec<SalePayment> = settlement
            .payments
            .iter()
            .map(|p| SalePayment {
                method: p.method,
                amount: p.amount,
                reference: p.reference.clone(),
            })
            .collect();
        let sale_template = Sale {
            id: sale_id,
            number: kasir_schema::txn_number::TxnNumber::new(cfg.code.clone(), setup.lane, 1)
                .map_err(|e| NodeError::Corrupt(e.to_string()))?,
            store: cfg.code.clone(),
            lane: setup.lane,
            shift: Some(shift),
            cashier_id: session.user_id.cast_unsigned(),
            customer: cart.customer,
            created_at: now,
            lines,
            payments,
            payment_method: settlement.method,
            subtotal: totals.subtotal,
            discount_amount: totals.discount_amount,
            tax_amount: totals.tax_amount,
            total_amount: totals.total_amount,
            cash_tendered: settlement.cash_tendered,
            change_amount: settlement.change,
            rounding_amount: settlement.rounding_adjustment,
            loyalty_points_earned: points_earned,
            loyalty_points_redeemed: cart.redeem_points,
            notes: None,
        };
        let approvals = &cart.approvals;
        let sale = self.write_before_projections(crate::db::File::Ledger, true, |tx, _| {
            let mut sale = sale_template;
            sale.number = Till::next_number(tx, &setup)?;
            hold_sale(tx, &sale)?;
            for (what, approver) in approvals {
                Till::log(
                    tx,
                    "info",
                    what,
                    serde_json::json!({ "sale": sale.number.to_string() }),
                    Some(session.user_id),
                    Some(*approver),
                    now,
                )?;
            }
            Ok(sale)
        })?;
        self.logs_pending |= !approvals.is_empty();
        self.cart = Cart::default();
        // The balance after this sale, as its loyalty entries will make it.
        let balance = customer
            .as_ref()
            .map(|c| c.points - sale.loyalty_points_redeemed + sale.loyalty_points_earned);
        self.pending.push(Pending::Sale(sale.clone()));
        Ok(Receipt {
            store_name: cfg.name.clone(),
            store_address: cfg.address.clone(),
            number: sale.number.to_string(),
            sale_id: sale.id,
            at: sale.created_at,
            cashier: session.full_name,
            customer: customer.map(|c| c.name),
            lines: sale
                .lines
                .iter()
                .map(|l| ReceiptLine {
                    name: l.name.clone(),
                    quantity: l.quantity,
                    unit_price: l.unit_price,
                    discount: l.discount_amount,
                    total: l.total_price,
                })
                .collect(),
            subtotal: sale.subtotal,
            discount: sale.discount_amount,
            tax: sale.tax_amount,
            tax_rate: cfg.tax.rate.percent(),
            tax_inclusive: matches!(cfg.tax.mode, kasir_schema::tax::PriceMode::TaxInclusive),
            total: sale.total_amount,
            payments: sale
                .payments
                .iter()
                .map(|p| (p.method, p.amount, p.reference.clone()))
                .collect(),
            cash_tendered: sale.cash_tendered,
            change: sale.change_amount,
            rounding: sale.rounding_amount,
            points_earned: sale.loyalty_points_earned,
            points_redeemed: sale.loyalty_points_redeemed,
            points_balance: balance,
        })
    }

    /// Writes the projections of records made durable in the ledger file (by
    /// [`Till::commit_sale`], a refund or a stock movement) in one transaction of the lane file,
    /// not fsynced on its own: the records are durable already, and if power fails first,
    /// opening the lane projects them again. Held sales are first moved into their ledger
    /// documents ([`move_inbox`], a transaction of the ledger file, not fsynced on its own
    /// either). Returns how many records it projected. When another handle is writing the lane
    /// file (a merge), it waits for that write to end.
    pub fn project_pending(&mut self) -> Result<usize> {
        self.project(true).map(|n| n.unwrap_or(0))
    }

    /// [`Till::project_pending`] without waiting: when another handle is writing the lane file,
    /// it writes nothing and returns `None`, keeping the till's place at the lane file
    /// ([`crate::WriteGate::try_enter`]: no further merge starts), so that a call a moment
    /// later finds the file free. Until then the projections of the last records are missing
    /// from the lane file (stock, the sale's rows); the till's next write projects them first,
    /// waiting if it must — all but a sale's commit without a customer ([`Till::commit_sale`]),
    /// which leaves them to follow with its own.
    pub fn try_project_pending(&mut self) -> Result<Option<usize>> {
        self.project(false)
    }

    /// Whether records wait for their projections ([`Till::project_pending`]).
    pub fn has_unprojected(&self) -> bool {
        !self.pending.is_empty() || self.logs_pending
    }

    fn project(&mut self, wait: bool) -> Result<Option<usize>> {
        if !self.has_unprojected() {
            return Ok(Some(0));
        }
        // The turn at the lane file first: without it, nothing is written.
        let gate = self.gate.clone();
        let _turn = match &gate {
            Some((g, who)) if wait => Some(g.enter(crate::db::File::Main, *who)),
            Some((g, who)) => match g.try_enter(crate::db::File::Main, *who) {
                Some(turn) => Some(turn),
                None => return Ok(None),
            },
            None => None,
        };
        let pending = std::mem::take(&mut self.pending);
        let logs = std::mem::take(&mut self.logs_pending);
        let n = pending.len();
        // Held sales go into their ledger documents first: a projection's mark
        // (`projected_through`) counts the ledger file's change rows.
        let result = if pending.iter().any(|p| matches!(p, Pending::Sale(_))) {
            self.write_in(crate::db::File::Ledger, false, |tx, docs| {
                move_inbox(tx, docs)
            })
        } else {
            Ok(0)
        };
        let result = result.and_then(|_| {
            self.write_in_turn(crate::db::File::Main, false, |tx, _| {
                for p in &pending {
                    match p {
                        Pending::Sale(s) => record_sale(tx, s)?,
                        Pending::Return(r) => returns::record_return(tx, r)?,
                        Pending::Movement(m) => record_movement(tx, m, true)?,
                        Pending::ShiftReport(r, doc) => {
                            crate::shift::record_shift_report(tx, r, *doc)?
                        }
                    };
                }
                if logs {
                    Till::copy_ledger_logs(tx)?;
                }
                mark_projected(tx)
            })
        });
        if let Err(e) = result {
            // Keep them for the next attempt (or the recovery at the next start).
            self.pending = pending;
            self.logs_pending |= logs;
            return Err(e);
        }
        Ok(Some(n))
    }

    /// Projects the records of this lane's own ledger documents that a stop between their
    /// commit and [`Till::project_pending`] left unprojected (every own ledger document with
    /// change rows after the last projection is projected again; what is there already is
    /// skipped), documents a merge was still projecting, and log lines not copied yet.
    pub(crate) fn recover_projections(&mut self) -> Result<usize> {
        let Some(lane) = self.setup.as_ref().map(|s| s.lane.get()) else {
            return Ok(0);
        };
        // Until the first open with a ledger file moved them there, own ledger documents are
        // in the lane file.
        let holder = if self.own.is_some() {
            &self.ledger
        } else {
            &self.conn
        };
        let through: i64 = self.conn.query_row(
            "SELECT projected_through FROM lane_state WHERE id = 1",
            [],
            |r| r.get(0),
        )?;
        let own = format!("ledger/%/{lane:03}");
        // Change rows after the last projection, and snapshots that folded some in. (A lane
        // file from before the ledger file kept a lower mark — the last row still there when
        // it projected — so only its rows count; its compactions ran after projections.)
        let mut names: BTreeSet<String> = holder
            .prepare(if self.own.is_some() {
                "SELECT doc_id FROM crdt_changes WHERE id > ?1 AND doc_id LIKE ?2
                 UNION SELECT doc_id FROM crdt_docs WHERE through_change > ?1 AND doc_id LIKE ?2"
            } else {
                "SELECT doc_id FROM crdt_changes WHERE id > ?1 AND doc_id LIKE ?2"
            })?
            .query_map(params![through, own], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        names.extend(
            self.conn
                .prepare("SELECT doc_id FROM unprojected_docs")?
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?,
        );
        let last = crate::docs::last_change_row(holder)?;
        let (logs_through, last_log): (i64, i64) = (
            self.conn.query_row(
                "SELECT logs_through FROM lane_state WHERE id = 1",
                [],
                |r| r.get(0),
            )?,
            self.ledger
                .query_row("SELECT COALESCE(MAX(id), 0) FROM ledger_logs", [], |r| {
                    r.get(0)
                })?,
        );
        if names.is_empty() && through == last && last_log <= logs_through {
            // Nothing to do: opening a lane writes nothing.
            return Ok(0);
        }
        let mut sales = 0;
        let now = db::ts(self.now());
        for name in &names {
            let Some(id) = DocId::parse(name) else {
                continue;
            };
            let out = self.write(|tx, docs| {
                let o = reproject_keys(tx, docs, id, None, &now)?;
                tx.execute("DELETE FROM unprojected_docs WHERE doc_id = ?1", [name])?;
                Ok(o)
            })?;
            sales += out.new_sales;
        }
        let legacy = self.own.is_none();
        self.write(|tx, _| {
            Till::copy_ledger_logs(tx)?;
            let holder = if legacy { tx.main() } else { tx.ledger() };
            tx.main()
                .prepare_cached("UPDATE lane_state SET projected_through = ?1 WHERE id = 1")?
                .execute([crate::docs::last_change_row(holder)?])?;
            Ok(())
        })?;
        Ok(sales)
    }

    /// A committed sale by its transaction number.
    pub fn sale_by_number(&mut self, number: &str) -> Result<Sale> {
        let (sale_id, at, lane): (String, String, u16) = self
            .conn
            .query_row(
                "SELECT sale_id, transaction_date, lane_no FROM transactions WHERE transaction_number = ?1",
                [number],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => NodeError::NotFound {
                    what: format!("sale {number}"),
                    hint: Some("check the number on the receipt (STORE-LANE-SEQUENCE)".into()),
                },
                other => other.into(),
            })?;
        let day = ledger_doc(db::parse_ts(&at)?, Origin::Lane(lane));
        let doc = self.doc(day)?;
        let json = docs::get_str(doc, &format!("s{}{sale_id}", docs::SEP)).ok_or_else(|| {
            NodeError::Corrupt(format!("sale {number} missing from {}", day.name()))
        })?;
        serde_json::from_str(&json).map_err(|e| NodeError::Corrupt(format!("sale {number}: {e}")))
    }
}

/// A sale whose every amount and quantity the ledger can store exactly.
pub(crate) fn sale_fits(s: &Sale) -> Result<()> {
    for v in [
        s.subtotal,
        s.tax_amount,
        s.discount_amount,
        s.total_amount,
        s.cash_tendered,
        s.change_amount,
        s.rounding_amount,
    ] {
        db::money(v)?;
    }
    for l in &s.lines {
        crate::catalog::validate_sku(&l.sku)?;
        db::qty(l.quantity)?;
        for v in [
            l.unit_price,
            l.discount_amount,
            l.total_price,
            l.transaction_discount_share,
            l.tax_amount,
            l.amount_due,
        ] {
            db::money(v)?;
        }
    }
    for p in &s.payments {
        db::money(p.amount)?;
    }
    Ok(())
}
