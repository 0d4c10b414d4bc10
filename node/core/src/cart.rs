//! The open cart of the lane: scanning, quantities, discounts, price overrides, customer,
//! points redemption, park/recall and void. Nothing here is stored until payment commits it,
//! except parked carts.

use chrono::{DateTime, Utc};
use kasir_schema::Decimal;
use kasir_schema::barcode::{self, BarcodeError, Measure, Scanned};
use kasir_schema::checkout::{
    Discount, LineInput, PricingContext, Quantity, Totals, compute_totals,
};
use kasir_schema::domain::{CustomerId, SaleUnit};
use kasir_schema::roles::Permission;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::auth::Approval;
use crate::catalog::ProductView;
use crate::db;
use crate::error::{NodeError, Result};
use crate::till::Till;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    pub sku: String,
    pub name: String,
    pub unit: SaleUnit,
    pub quantity: Quantity,
    pub unit_price: Decimal,
    /// The catalog price when the line was added (differs from `unit_price` after an override
    /// or for a price-embedded label).
    pub catalog_price: Decimal,
    pub discount: Option<Discount>,
    pub price_override_by: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    pub lines: Vec<CartLine>,
    pub transaction_discount: Option<Discount>,
    pub customer: Option<CustomerId>,
    /// Loyalty points to redeem as a discount on this sale.
    pub redeem_points: i64,
    /// Guarded actions approved on this cart: (what, approver id), logged at commit.
    pub approvals: Vec<(String, i64)>,
}

impl Cart {
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn line_inputs(&self) -> Vec<LineInput> {
        self.lines
            .iter()
            .map(|l| LineInput {
                quantity: l.quantity,
                unit_price: l.unit_price,
                discount: l.discount,
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedCart {
    pub id: i64,
    pub label: String,
    pub lines: usize,
    pub parked_at: DateTime<Utc>,
}

/// How much a discount takes off `base` as a percent of it (for the cashier's limit).
fn discount_percent(d: &Discount, base: Decimal) -> Decimal {
    match d {
        Discount::Percent(p) => *p,
        Discount::Amount(a) if base > Decimal::ZERO => *a * Decimal::ONE_HUNDRED / base,
        Discount::Amount(a) if a.is_zero() => Decimal::ZERO,
        Discount::Amount(_) => Decimal::ONE_HUNDRED,
    }
}

/// What an approval allowed, as the sale's log records it: with the supervisor's reason, when
/// one was given (`price override on SKU-1: pelanggan tetap`).
fn with_reason(what: String, approval: Option<&Approval>) -> String {
    match approval.and_then(|a| a.reason.as_deref()) {
        Some(reason) => format!("{what}: {reason}"),
        None => what,
    }
}

impl Till {
    pub fn cart(&self) -> &Cart {
        &self.cart
    }

    pub(crate) fn pricing(&self) -> Result<PricingContext> {
        let c = self.config()?;
        Ok(PricingContext {
            currency: c.currency,
            tax: c.tax,
        })
    }

    /// The value of `points` when redeemed.
    pub fn points_value(&self, points: i64) -> Result<Decimal> {
        Ok(Decimal::from(points) * self.config()?.loyalty_point_value)
    }

    /// The transaction discount actually applied: the cashier's discount plus redeemed points.
    pub(crate) fn effective_transaction_discount(&self, cart: &Cart) -> Result<Option<Discount>> {
        let points_value = self.points_value(cart.redeem_points)?;
        if points_value.is_zero() {
            return Ok(cart.transaction_discount);
        }
        let base = compute_totals(&cart.line_inputs(), None, &self.pricing()?)?;
        let after_lines = base.subtotal - base.discount_amount;
        let manual = match cart.transaction_discount {
            None => Decimal::ZERO,
            Some(Discount::Amount(a)) => a,
            Some(Discount::Percent(p)) => kasir_schema::money::round_half_up(
                after_lines * p / Decimal::ONE_HUNDRED,
                self.config()?.currency.unit(),
            )?,
        };
        Ok(Some(Discount::Amount(manual + points_value)))
    }

    /// Totals of the open cart.
    pub fn cart_totals(&self) -> Result<Totals> {
        let d = self.effective_transaction_discount(&self.cart)?;
        Ok(compute_totals(
            &self.cart.line_inputs(),
            d,
            &self.pricing()?,
        )?)
    }

    fn sellable(&self, p: Option<ProductView>, code: &str) -> Result<ProductView> {
        let p = p.ok_or_else(|| NodeError::BarcodeNotFound {
            code: code.to_string(),
        })?;
        if !p.is_active {
            return Err(NodeError::Invalid(format!(
                "{} is not for sale any more",
                p.name
            )));
        }
        Ok(p)
    }

    /// Adds what the scanner read. Returns the index of the line it went to.
    pub fn scan(&mut self, code: &str) -> Result<usize> {
        self.session()?;
        let nomenclature = self.config()?.nomenclature.clone();
        match barcode::parse(code, &nomenclature) {
            Ok(Scanned::Gtin(g)) => {
                let p = self.sellable(self.product_by_barcode(&g.key)?, code)?;
                self.add_line(&p, Quantity::ONE, None)
            }
            Ok(Scanned::VariableMeasure(v)) => {
                let p = self.sellable(self.product_by_barcode(&v.lookup_key())?, code)?;
                match v.measure {
                    Measure::Weight { .. } => {
                        let kg = v.measure.kilograms().unwrap_or_default();
                        self.add_line(&p, Quantity::new(kg)?, None)
                    }
                    Measure::Price { amount } => self.add_line(&p, Quantity::ONE, Some(amount)),
                }
            }
            // Not a GTIN: an in-house code printed as the barcode, or a SKU typed in.
            Err(BarcodeError::BadLength { .. } | BarcodeError::NonDigit { .. }) => {
                let trimmed = code.trim();
                let p = match self.product_by_barcode(trimmed)? {
                    Some(p) => Some(p),
                    None => self.product(trimmed)?,
                };
                let p = self.sellable(p, code)?;
                self.add_line(&p, Quantity::ONE, None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Adds a product by SKU (from search results or typed).
    pub fn add_sku(&mut self, sku: &str, quantity: Decimal) -> Result<usize> {
        self.session()?;
        let q = Quantity::new(quantity)?;
        let p = self.product(sku)?.ok_or_else(|| NodeError::NotFound {
            what: format!("product {sku}"),
            hint: Some("search by name".into()),
        })?;
        if !p.is_active {
            return Err(NodeError::Invalid(format!(
                "{} is not for sale any more",
                p.name
            )));
        }
        self.add_line(&p, q, None)
    }

    fn add_line(
        &mut self,
        p: &ProductView,
        q: Quantity,
        label_price: Option<Decimal>,
    ) -> Result<usize> {
        let mergeable = p.unit == SaleUnit::Piece && label_price.is_none();
        if let Some(i) = self.cart.lines.iter().position(|l| {
            mergeable
                && l.sku == p.sku
                && l.discount.is_none()
                && l.price_override_by.is_none()
                && l.unit_price == p.price
        }) {
            let merged = Quantity::new(self.cart.lines[i].quantity.get() + q.get())?;
            self.cart.lines[i].quantity = merged;
            return Ok(i);
        }
        if self.cart.lines.len() >= kasir_schema::checkout::MAX_LINES {
            return Err(NodeError::Invalid(
                "the cart is full: pay or park it first".into(),
            ));
        }
        self.cart.lines.push(CartLine {
            sku: p.sku.clone(),
            name: p.name.clone(),
            unit: p.unit,
            quantity: q,
            unit_price: label_price.unwrap_or(p.price),
            catalog_price: p.price,
            discount: None,
            price_override_by: None,
        });
        Ok(self.cart.lines.len() - 1)
    }

    fn line_mut(&mut self, index: usize) -> Result<&mut CartLine> {
        self.cart
            .lines
            .get_mut(index)
            .ok_or(NodeError::NoSuchLine(index))
    }

    /// Sets a line's quantity from what the cashier typed (`3`, `1,25`).
    pub fn set_quantity(&mut self, index: usize, typed: &str) -> Result<()> {
        let q = Quantity::parse(typed)?;
        let line = self.line_mut(index)?;
        if line.unit == SaleUnit::Piece && q.get().fract() != Decimal::ZERO {
            return Err(NodeError::Invalid(format!(
                "{} is sold by the piece",
                line.name
            )));
        }
        line.quantity = q;
        Ok(())
    }

    pub fn remove_line(&mut self, index: usize) -> Result<CartLine> {
        if index >= self.cart.lines.len() {
            return Err(NodeError::NoSuchLine(index));
        }
        Ok(self.cart.lines.remove(index))
    }

    fn check_discount_limit(
        &self,
        d: &Discount,
        base: Decimal,
        approval: Option<&Approval>,
    ) -> Result<Option<i64>> {
        let limit = self.config()?.cashier_discount_limit_percent;
        if discount_percent(d, base) <= limit {
            self.session()?;
            return Ok(None);
        }
        self.authorize(Permission::DiscountAboveLimit, approval)
    }

    /// A discount on one line; above the store's cashier limit it needs approval.
    pub fn set_line_discount(
        &mut self,
        index: usize,
        discount: Option<Discount>,
        approval: Option<&Approval>,
    ) -> Result<()> {
        let line = self
            .cart
            .lines
            .get(index)
            .ok_or(NodeError::NoSuchLine(index))?
            .clone();
        if let Some(d) = &discount {
            let mut trial = self.cart.clone();
            trial.lines[index].discount = Some(*d);
            compute_totals(&trial.line_inputs(), None, &self.pricing()?)?;
            let gross = line.unit_price * line.quantity.get();
            if let Some(approver) = self.check_discount_limit(d, gross, approval)? {
                self.cart.approvals.push((
                    with_reason(format!("line discount on {}", line.sku), approval),
                    approver,
                ));
            }
        }
        self.line_mut(index)?.discount = discount;
        Ok(())
    }

    /// A discount on the whole cart; above the cashier limit it needs approval.
    pub fn set_transaction_discount(
        &mut self,
        discount: Option<Discount>,
        approval: Option<&Approval>,
    ) -> Result<()> {
        if let Some(d) = &discount {
            let t = compute_totals(&self.cart.line_inputs(), Some(*d), &self.pricing()?)?;
            let base = t.subtotal - t.lines.iter().map(|l| l.discount_amount).sum::<Decimal>();
            if let Some(approver) = self.check_discount_limit(d, base, approval)? {
                self.cart.approvals.push((
                    with_reason("transaction discount".into(), approval),
                    approver,
                ));
            }
        }
        self.cart.transaction_discount = discount;
        Ok(())
    }

    /// Sells a line at another price (supervisors, or with approval).
    pub fn override_price(
        &mut self,
        index: usize,
        price: Decimal,
        approval: Option<&Approval>,
    ) -> Result<()> {
        if price < Decimal::ZERO {
            return Err(NodeError::Invalid("price must not be negative".into()));
        }
        kasir_schema::money::check_amount(price)?;
        self.cart
            .lines
            .get(index)
            .ok_or(NodeError::NoSuchLine(index))?;
        let approver = self.authorize(Permission::PriceOverride, approval)?;
        let by = approver.unwrap_or(self.session()?.user_id);
        let line = self.line_mut(index)?;
        line.unit_price = price;
        line.price_override_by = Some(by);
        let sku = line.sku.clone();
        self.cart.approvals.push((
            with_reason(format!("price override on {sku}"), approval),
            by,
        ));
        Ok(())
    }

    /// Attaches a loyalty customer to the cart.
    pub fn attach_customer(&mut self, id: CustomerId) -> Result<()> {
        self.customer(id)?.ok_or_else(|| NodeError::NotFound {
            what: "customer".into(),
            hint: Some("search by phone, code or name".into()),
        })?;
        self.cart.customer = Some(id);
        Ok(())
    }

    pub fn detach_customer(&mut self) {
        self.cart.customer = None;
        self.cart.redeem_points = 0;
    }

    /// Redeems points of the attached customer as a discount on this sale.
    pub fn redeem_points(&mut self, points: i64) -> Result<()> {
        let id = self
            .cart
            .customer
            .ok_or_else(|| NodeError::Invalid("attach a customer first".into()))?;
        if points < 0 {
            return Err(NodeError::Invalid("points must not be negative".into()));
        }
        let available = self.customer(id)?.map(|c| c.points).unwrap_or(0);
        if points > available {
            return Err(NodeError::NotEnoughPoints {
                available,
                requested: points,
            });
        }
        let previous = self.cart.redeem_points;
        self.cart.redeem_points = points;
        if let Err(e) = self.cart_totals() {
            self.cart.redeem_points = previous;
            return Err(e);
        }
        Ok(())
    }

    /// Records that the receipt of sale `number` was printed again (a copy), by whom: reprints
    /// are audited, as a copy can be used to claim a refund twice.
    pub fn log_reprint(&mut self, number: &str) -> Result<()> {
        let user = self.session()?.user_id;
        let context = serde_json::json!({ "number": number });
        let now = self.now();
        self.write(|tx, _| {
            Till::log(
                tx,
                "info",
                "receipt reprinted",
                context,
                Some(user),
                None,
                now,
            )
        })
    }

    /// Opens the cash drawer without a sale ("no sale"): during a shift, with a reason, and a
    /// supervisor's act ([`Permission::OpenDrawerNoSale`]); logged with who asked, who
    /// approved and why. The cart is left as it is.
    pub fn no_sale(&mut self, reason: &str, approval: Option<&Approval>) -> Result<()> {
        let approver = self.authorize(Permission::OpenDrawerNoSale, approval)?;
        let user = self.session()?.user_id;
        let shift = self.current_shift()?.ok_or(NodeError::NoOpenShift)?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(NodeError::Invalid(
                "a reason is required to open the drawer without a sale".into(),
            ));
        }
        let context = serde_json::json!({ "shift": shift.to_string(), "reason": reason });
        let now = self.now();
        self.write(|tx, _| Till::log(tx, "warning", "no sale", context, Some(user), approver, now))
    }

    /// Abandons the cart. A cart with lines needs the VoidTransaction permission; the void is
    /// logged with what was in it.
    pub fn void_cart(&mut self, approval: Option<&Approval>) -> Result<()> {
        if self.cart.is_empty() {
            self.cart = Cart::default();
            return Ok(());
        }
        let approver = self.authorize(Permission::VoidTransaction, approval)?;
        let total = self.cart_totals()?.total_amount;
        let user = self.session()?.user_id;
        let context = serde_json::json!({
            "lines": self.cart.lines.iter().map(|l| (&l.sku, l.quantity)).collect::<Vec<_>>(),
            "total": total,
            "reason": approval.and_then(|a| a.reason.as_deref()),
        });
        let now = self.now();
        self.write(|tx, _| {
            Till::log(
                tx,
                "warning",
                "cart voided",
                context,
                Some(user),
                approver,
                now,
            )
        })?;
        self.cart = Cart::default();
        Ok(())
    }

    /// Puts the cart aside (a customer fetching something) and starts an empty one.
    pub fn park_cart(&mut self, label: &str) -> Result<i64> {
        if self.cart.is_empty() {
            return Err(NodeError::EmptyCart);
        }
        let user = self.session()?.user_id;
        let json =
            serde_json::to_string(&self.cart).map_err(|e| NodeError::Invalid(e.to_string()))?;
        let label = if label.trim().is_empty() {
            "parked"
        } else {
            label.trim()
        };
        let now = db::ts(self.now());
        let id = self.write(|tx, _| {
            tx.execute(
                "INSERT INTO parked_carts (label, cart_json, parked_by, parked_at) VALUES (?1, ?2, ?3, ?4)",
                params![label, json, user, now],
            )?;
            Ok(tx.last_insert_rowid())
        })?;
        self.cart = Cart::default();
        Ok(id)
    }

    /// How many carts are parked (cheap: for a status line).
    pub fn parked_count(&self) -> Result<usize> {
        let n: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM parked_carts")?
            .query_row([], |r| r.get(0))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    pub fn parked_carts(&self) -> Result<Vec<ParkedCart>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, label, cart_json, parked_at FROM parked_carts ORDER BY id")?;
        let rows: Vec<(i64, String, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        rows.into_iter()
            .map(|(id, label, json, at)| {
                let cart: Cart = serde_json::from_str(&json)
                    .map_err(|e| NodeError::Corrupt(format!("parked cart {id}: {e}")))?;
                Ok(ParkedCart {
                    id,
                    label,
                    lines: cart.lines.len(),
                    parked_at: db::parse_ts(&at)?,
                })
            })
            .collect()
    }

    /// Brings a parked cart back (the open cart must be empty).
    pub fn recall_cart(&mut self, id: i64) -> Result<()> {
        self.session()?;
        if !self.cart.is_empty() {
            return Err(NodeError::Invalid(
                "finish or park the open cart first".into(),
            ));
        }
        let json: String = self
            .conn
            .query_row(
                "SELECT cart_json FROM parked_carts WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| NodeError::NotFound {
                what: format!("parked cart {id}"),
                hint: None,
            })?;
        let cart: Cart = serde_json::from_str(&json)
            .map_err(|e| NodeError::Corrupt(format!("parked cart {id}: {e}")))?;
        self.write(|tx, _| {
            tx.execute("DELETE FROM parked_carts WHERE id = ?1", [id])?;
            Ok(())
        })?;
        self.cart = cart;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discounts_are_measured_against_the_cashier_limit_as_percent() {
        let d = |v: i64| Decimal::from(v);
        assert_eq!(discount_percent(&Discount::Percent(d(15)), d(1000)), d(15));
        assert_eq!(discount_percent(&Discount::Amount(d(100)), d(1000)), d(10));
        assert_eq!(discount_percent(&Discount::Amount(d(0)), d(0)), d(0));
        assert_eq!(discount_percent(&Discount::Amount(d(5)), d(0)), d(100));
    }
}
