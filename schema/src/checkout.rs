//! Checkout math: lines → totals.
//!
//! Definitions (column names are the seed's):
//! - line `gross = round(quantity × unit_price)`; line `discount_amount` is the line discount;
//!   line `total_price = gross − discount_amount`.
//! - transaction `subtotal = Σ gross`; `discount_amount = Σ line discounts + transaction discount`
//!   (a transaction percent discount applies to the subtotal after line discounts).
//! - the taxable base `subtotal − discount_amount` is priced in the store's [`PriceMode`]; tax is
//!   computed once on it (see [`crate::tax`]); `total_amount` is the gross of that split.
//!
//! So `total_amount = subtotal − discount_amount (+ tax_amount when prices exclude tax)`, and
//! every total depends only on the multiset of lines, never on their order. The transaction
//! discount and the tax are also allocated to lines ([`allocate`]) so that per-line shares add
//! up exactly; a partial refund uses those shares.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{Currency, MoneyError, check_amount, round_half_up};
use crate::tax::{PriceMode, TaxConfig, TaxError};

/// Largest quantity of one line; anything above is a typo (scanned a barcode into the
/// quantity field, say).
pub const MAX_QUANTITY: Decimal = Decimal::from_parts(9999, 0, 0, false, 0);
/// Decimals a quantity may have: grams of a kilogram.
pub const QUANTITY_SCALE: u32 = 3;
/// Lines one transaction may hold.
pub const MAX_LINES: usize = 500;

/// A line quantity: positive, at most [`MAX_QUANTITY`], at most three decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct Quantity(Decimal);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("quantity must be more than zero, got {0}")]
    NotPositive(Decimal),
    #[error("quantity {0} is more than {MAX_QUANTITY}; check what was typed")]
    TooLarge(Decimal),
    #[error("quantity {0} has more than {QUANTITY_SCALE} decimals")]
    TooPrecise(Decimal),
    #[error("quantity: {0}")]
    Parse(#[from] crate::money::ParseError),
}

impl Quantity {
    pub const ONE: Quantity = Quantity(Decimal::ONE);

    pub fn new(value: Decimal) -> Result<Self, QuantityError> {
        let v = value.normalize();
        if v <= Decimal::ZERO {
            return Err(QuantityError::NotPositive(value));
        }
        if v > MAX_QUANTITY {
            return Err(QuantityError::TooLarge(value));
        }
        if v.scale() > QUANTITY_SCALE {
            return Err(QuantityError::TooPrecise(value));
        }
        Ok(Quantity(v))
    }

    /// Parses a typed quantity (`3`, `1,25` kg, `0.5`).
    pub fn parse(input: &str) -> Result<Self, QuantityError> {
        Quantity::new(crate::money::parse_decimal(input)?)
    }

    pub fn get(self) -> Decimal {
        self.0
    }
}

impl TryFrom<Decimal> for Quantity {
    type Error = QuantityError;
    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        Quantity::new(value)
    }
}

impl From<Quantity> for Decimal {
    fn from(value: Quantity) -> Self {
        value.0
    }
}

/// A discount on a line or on the whole transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Discount {
    /// A fixed amount off.
    Amount(Decimal),
    /// A percentage (0–100) off.
    Percent(Decimal),
}

impl Discount {
    /// The amount this discount takes off `base`, rounded half-up to `unit`.
    fn amount_off(self, base: Decimal, unit: Decimal) -> Result<Decimal, CheckoutError> {
        match self {
            Discount::Amount(a) => {
                if a < Decimal::ZERO {
                    return Err(CheckoutError::NegativeDiscount(a));
                }
                if a.normalize().scale() > unit.scale() {
                    return Err(CheckoutError::Money(MoneyError::TooPrecise(a)));
                }
                if a > base {
                    return Err(CheckoutError::DiscountExceedsAmount {
                        discount: a,
                        amount: base,
                    });
                }
                Ok(a)
            }
            Discount::Percent(p) => {
                if p < Decimal::ZERO || p > Decimal::ONE_HUNDRED {
                    return Err(CheckoutError::PercentOutOfRange(p));
                }
                let exact = base.checked_mul(p).ok_or(MoneyError::Overflow)? / Decimal::ONE_HUNDRED;
                Ok(round_half_up(exact, unit)?)
            }
        }
    }
}

/// One line as the cart holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineInput {
    pub quantity: Quantity,
    pub unit_price: Decimal,
    pub discount: Option<Discount>,
}

/// What checkout needs besides the lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PricingContext {
    pub currency: Currency,
    pub tax: TaxConfig,
}

/// The computed amounts of one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineTotals {
    /// `round(quantity × unit_price)`.
    pub gross: Decimal,
    /// The line's own discount (seed: `transaction_details.discount_amount`).
    pub discount_amount: Decimal,
    /// `gross − discount_amount` (seed: `transaction_details.total_price`).
    pub total_price: Decimal,
    /// This line's share of the transaction discount.
    pub transaction_discount_share: Decimal,
    /// This line's share of the transaction tax.
    pub tax_amount: Decimal,
    /// What the customer pays for this line, tax included: shares add up to `total_amount`.
    pub amount_due: Decimal,
}

/// The computed amounts of a transaction (seed: `transactions.*`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Totals {
    pub lines: Vec<LineTotals>,
    pub subtotal: Decimal,
    pub discount_amount: Decimal,
    pub tax_amount: Decimal,
    /// Amount before tax (DPP): `total_amount − tax_amount`.
    pub net_amount: Decimal,
    pub total_amount: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckoutError {
    #[error("unit price must not be negative, got {0}")]
    NegativePrice(Decimal),
    #[error("discount must not be negative, got {0}")]
    NegativeDiscount(Decimal),
    #[error("discount {discount} is more than the amount {amount} it applies to")]
    DiscountExceedsAmount { discount: Decimal, amount: Decimal },
    #[error("percent discount must be between 0 and 100, got {0}")]
    PercentOutOfRange(Decimal),
    #[error("a transaction holds at most {MAX_LINES} lines")]
    TooManyLines,
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Tax(#[from] TaxError),
}

/// Computes every amount of a transaction from its lines.
pub fn compute_totals(
    lines: &[LineInput],
    transaction_discount: Option<Discount>,
    ctx: &PricingContext,
) -> Result<Totals, CheckoutError> {
    if lines.len() > MAX_LINES {
        return Err(CheckoutError::TooManyLines);
    }
    let unit = ctx.currency.unit();
    let mut partial = Vec::with_capacity(lines.len());
    let mut subtotal = Decimal::ZERO;
    let mut line_discounts = Decimal::ZERO;
    for line in lines {
        if line.unit_price < Decimal::ZERO {
            return Err(CheckoutError::NegativePrice(line.unit_price));
        }
        check_amount(line.unit_price)?;
        let exact = line
            .unit_price
            .checked_mul(line.quantity.get())
            .ok_or(MoneyError::Overflow)?;
        let gross = check_amount(round_half_up(exact, unit)?)?;
        let discount_amount = match line.discount {
            Some(d) => d.amount_off(gross, unit)?,
            None => Decimal::ZERO,
        };
        subtotal = check_amount(subtotal.checked_add(gross).ok_or(MoneyError::Overflow)?)?;
        line_discounts += discount_amount;
        partial.push((gross, discount_amount, gross - discount_amount));
    }
    let after_line_discounts = subtotal - line_discounts;
    let txn_discount = match transaction_discount {
        Some(d) => d.amount_off(after_line_discounts, unit)?,
        None => Decimal::ZERO,
    };
    let discount_amount = line_discounts + txn_discount;
    let base = subtotal - discount_amount;
    let split = ctx.tax.split(base, unit)?;
    let total_amount = check_amount(split.gross)?;

    let weights: Vec<Decimal> = partial.iter().map(|p| p.2).collect();
    let discount_shares = allocate(txn_discount, &weights, unit);
    let after_txn: Vec<Decimal> = weights
        .iter()
        .zip(&discount_shares)
        .map(|(w, s)| w - s)
        .collect();
    let tax_shares = allocate(split.tax, &after_txn, unit);
    let lines = partial
        .iter()
        .zip(discount_shares.iter().zip(&tax_shares))
        .zip(&after_txn)
        .map(
            |(((gross, discount, total_price), (txn_share, tax)), base)| LineTotals {
                gross: *gross,
                discount_amount: *discount,
                total_price: *total_price,
                transaction_discount_share: *txn_share,
                tax_amount: *tax,
                amount_due: match ctx.tax.mode {
                    PriceMode::TaxInclusive => *base,
                    PriceMode::TaxExclusive => base + tax,
                },
            },
        )
        .collect();
    Ok(Totals {
        lines,
        subtotal,
        discount_amount,
        tax_amount: split.tax,
        net_amount: split.net,
        total_amount,
    })
}

/// Splits `total` over `weights` in proportion, in multiples of `unit`, so that the shares add
/// up to `total` exactly (largest-remainder method; ties go to the earlier weight). Zero or
/// negative weights get nothing; with no positive weight everything goes to the first share.
pub fn allocate(total: Decimal, weights: &[Decimal], unit: Decimal) -> Vec<Decimal> {
    let mut shares = vec![Decimal::ZERO; weights.len()];
    if weights.is_empty() || total.is_zero() {
        return shares;
    }
    let weight_sum: Decimal = weights.iter().filter(|w| **w > Decimal::ZERO).sum();
    if weight_sum.is_zero() {
        shares[0] = total;
        return shares;
    }
    let units_total = (total / unit).trunc();
    let mut remainders = Vec::with_capacity(weights.len());
    let mut given = Decimal::ZERO;
    for (i, w) in weights.iter().enumerate() {
        if *w <= Decimal::ZERO {
            continue;
        }
        let exact_units = units_total * *w / weight_sum;
        let floor = exact_units.floor();
        shares[i] = floor;
        given += floor;
        remainders.push((exact_units - floor, i));
    }
    // Highest remainder first; equal remainders keep index order (stable sort).
    remainders.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut left = units_total - given;
    for (_, i) in remainders.iter().cycle() {
        if left <= Decimal::ZERO {
            break;
        }
        shares[*i] += Decimal::ONE;
        left -= Decimal::ONE;
    }
    for s in &mut shares {
        *s = (*s * unit).normalize();
    }
    // Any sub-unit residue (a total that is not a multiple of unit) goes to the first share.
    let residue = total - units_total * unit;
    if !residue.is_zero() {
        let first = remainders.iter().map(|r| r.1).min().unwrap_or(0);
        shares[first] += residue;
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tax::TaxRate;
    use rust_decimal_macros::dec;

    fn line(q: Decimal, p: Decimal, d: Option<Discount>) -> LineInput {
        LineInput {
            quantity: Quantity::new(q).unwrap(),
            unit_price: p,
            discount: d,
        }
    }

    fn ctx(rate: Decimal, mode: PriceMode) -> PricingContext {
        PricingContext {
            currency: Currency::Idr,
            tax: TaxConfig {
                rate: TaxRate::new(rate).unwrap(),
                mode,
            },
        }
    }

    #[test]
    fn a_typical_basket_tax_inclusive() {
        let lines = [
            line(dec!(2), dec!(12500), None),
            // 0,675 kg of beef at Rp 135.000/kg = 91.125
            line(dec!(0.675), dec!(135000), Some(Discount::Percent(dec!(10)))),
            line(dec!(1), dec!(3500), Some(Discount::Amount(dec!(500)))),
        ];
        let t = compute_totals(
            &lines,
            Some(Discount::Amount(dec!(1000))),
            &ctx(dec!(11), PriceMode::TaxInclusive),
        )
        .unwrap();
        assert_eq!(t.lines[1].gross, dec!(91125));
        assert_eq!(t.lines[1].discount_amount, dec!(9113)); // 9112.5 → 9113
        assert_eq!(t.subtotal, dec!(119625));
        assert_eq!(t.discount_amount, dec!(10613));
        assert_eq!(t.total_amount, dec!(109012));
        // 109012 × 11 / 111 = 10803.07… → 10803
        assert_eq!(t.tax_amount, dec!(10803));
        assert_eq!(t.net_amount + t.tax_amount, t.total_amount);
        let due: Decimal = t.lines.iter().map(|l| l.amount_due).sum();
        assert_eq!(due, t.total_amount);
    }

    #[test]
    fn tax_exclusive_adds_tax_on_top() {
        let t = compute_totals(
            &[line(dec!(3), dec!(10000), None)],
            Some(Discount::Percent(dec!(5))),
            &ctx(dec!(11), PriceMode::TaxExclusive),
        )
        .unwrap();
        assert_eq!(t.subtotal, dec!(30000));
        assert_eq!(t.discount_amount, dec!(1500));
        assert_eq!(t.tax_amount, dec!(3135));
        assert_eq!(t.total_amount, dec!(31635));
        assert_eq!(t.lines[0].amount_due, dec!(31635));
    }

    #[test]
    fn refuses_bad_lines() {
        let c = ctx(dec!(11), PriceMode::TaxInclusive);
        assert_eq!(
            compute_totals(&[line(dec!(1), dec!(-1), None)], None, &c),
            Err(CheckoutError::NegativePrice(dec!(-1)))
        );
        assert!(matches!(
            compute_totals(
                &[line(dec!(1), dec!(100), Some(Discount::Amount(dec!(101))))],
                None,
                &c
            ),
            Err(CheckoutError::DiscountExceedsAmount { .. })
        ));
        assert_eq!(
            compute_totals(
                &[line(dec!(1), dec!(100), Some(Discount::Percent(dec!(101))))],
                None,
                &c
            ),
            Err(CheckoutError::PercentOutOfRange(dec!(101)))
        );
        assert!(matches!(
            compute_totals(
                &[line(dec!(1), dec!(100), None)],
                Some(Discount::Amount(dec!(0.5))),
                &c
            ),
            Err(CheckoutError::Money(MoneyError::TooPrecise(_)))
        ));
    }

    #[test]
    fn quantities_are_checked() {
        assert_eq!(
            Quantity::new(dec!(0)),
            Err(QuantityError::NotPositive(dec!(0)))
        );
        assert_eq!(
            Quantity::new(dec!(-2)),
            Err(QuantityError::NotPositive(dec!(-2)))
        );
        assert_eq!(
            Quantity::new(dec!(10000)),
            Err(QuantityError::TooLarge(dec!(10000)))
        );
        assert_eq!(
            Quantity::new(dec!(0.0001)),
            Err(QuantityError::TooPrecise(dec!(0.0001)))
        );
        assert_eq!(Quantity::parse("1,25").unwrap().get(), dec!(1.25));
        assert!(matches!(
            Quantity::parse("abc"),
            Err(QuantityError::Parse(_))
        ));
        assert_eq!(Quantity::parse("9999").unwrap().get(), dec!(9999));
    }

    #[test]
    fn allocation_is_exact_and_proportional() {
        let shares = allocate(dec!(100), &[dec!(1), dec!(1), dec!(1)], dec!(1));
        assert_eq!(shares, vec![dec!(34), dec!(33), dec!(33)]);
        let shares = allocate(dec!(10), &[dec!(0), dec!(3), dec!(1)], dec!(1));
        assert_eq!(shares, vec![dec!(0), dec!(8), dec!(2)]);
        let shares = allocate(dec!(0.05), &[dec!(1), dec!(1)], dec!(0.01));
        assert_eq!(shares, vec![dec!(0.03), dec!(0.02)]);
        assert_eq!(allocate(dec!(5), &[], dec!(1)), Vec::<Decimal>::new());
        assert_eq!(allocate(dec!(5), &[dec!(0)], dec!(1)), vec![dec!(5)]);
    }
}
