//! Payments: tenders against an amount due, change, and cash rounding.
//!
//! Rules:
//! - Card, e-wallet and bank transfer are charged exactly: together they never exceed the
//!   amount due.
//! - Only cash may exceed what is due, producing change. What cash must cover (the amount due
//!   minus the non-cash tenders) is rounded half-up to the store's cash increment (`cash_due`);
//!   the change is `cash tendered − cash_due` rounded *down* to the increment, so the drawer
//!   never hands out coins that do not exist and never keeps less than `cash_due`. The
//!   difference between what the store keeps and the exact amount due is the
//!   `rounding_adjustment` (never more than half an increment unless the customer tendered an
//!   amount the drawer cannot change exactly).
//! - Without cash, the tenders must cover the amount due exactly.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{CashIncrement, MoneyError, check_amount, round_down, round_half_up};

text_enum! {
    /// How one tender was paid (seed: `payment_details.payment_method`).
    pub enum PaymentMethod("payment method") {
        Cash = "cash",
        Card = "card",
        EWallet = "e_wallet",
        BankTransfer = "bank_transfer",
    }
}

text_enum! {
    /// How a whole transaction was paid (seed: `transactions.payment_method`).
    pub enum TransactionPaymentMethod("payment method") {
        Cash = "cash",
        Card = "card",
        EWallet = "e_wallet",
        BankTransfer = "bank_transfer",
        Split = "split",
    }
}

impl From<PaymentMethod> for TransactionPaymentMethod {
    fn from(m: PaymentMethod) -> Self {
        match m {
            PaymentMethod::Cash => TransactionPaymentMethod::Cash,
            PaymentMethod::Card => TransactionPaymentMethod::Card,
            PaymentMethod::EWallet => TransactionPaymentMethod::EWallet,
            PaymentMethod::BankTransfer => TransactionPaymentMethod::BankTransfer,
        }
    }
}

/// One tender as the cashier enters it. `reference` is a terminal approval code or transfer
/// reference, never a card number (receipts show at most the last four digits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tender {
    pub method: PaymentMethod,
    pub amount: Decimal,
    pub reference: Option<String>,
}

impl Tender {
    pub fn cash(amount: Decimal) -> Self {
        Tender {
            method: PaymentMethod::Cash,
            amount,
            reference: None,
        }
    }

    pub fn new(method: PaymentMethod, amount: Decimal) -> Self {
        Tender {
            method,
            amount,
            reference: None,
        }
    }
}

/// The most tenders one transaction may be split into.
pub const MAX_TENDERS: usize = 8;

/// The outcome of paying an amount due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    pub amount_due: Decimal,
    /// What cash had to cover, rounded to the cash increment (zero without cash).
    pub cash_due: Decimal,
    pub cash_tendered: Decimal,
    pub change: Decimal,
    /// What the store keeps minus the amount due (from cash rounding only).
    pub rounding_adjustment: Decimal,
    /// The payments to record: non-cash tenders as entered, then one cash line for the cash
    /// kept (`cash_tendered − change`). They add up to `amount_due + rounding_adjustment`.
    pub payments: Vec<Tender>,
    pub method: TransactionPaymentMethod,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    #[error("no payment entered")]
    NoTender,
    #[error("a transaction can be split into at most {MAX_TENDERS} payments")]
    TooManyTenders,
    #[error("each payment must be more than zero, got {0}")]
    NotPositive(Decimal),
    #[error("card, e-wallet and bank transfer payments exceed the amount due by {over}")]
    NonCashExceedsDue { over: Decimal },
    #[error("payment is short by {missing}")]
    Short { missing: Decimal },
    #[error("cash was entered but nothing is left to pay in cash")]
    CashNotNeeded,
    #[error("amount due must not be negative, got {0}")]
    NegativeDue(Decimal),
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// Settles `amount_due` with `tenders` (see the module rules).
pub fn settle(
    amount_due: Decimal,
    tenders: &[Tender],
    cash_increment: CashIncrement,
) -> Result<Settlement, PaymentError> {
    if amount_due < Decimal::ZERO {
        return Err(PaymentError::NegativeDue(amount_due));
    }
    check_amount(amount_due)?;
    if tenders.len() > MAX_TENDERS {
        return Err(PaymentError::TooManyTenders);
    }
    if tenders.is_empty() && !amount_due.is_zero() {
        return Err(PaymentError::NoTender);
    }
    let mut non_cash = Decimal::ZERO;
    let mut cash_tendered = Decimal::ZERO;
    let mut has_cash = false;
    for t in tenders {
        if t.amount <= Decimal::ZERO {
            return Err(PaymentError::NotPositive(t.amount));
        }
        check_amount(t.amount)?;
        match t.method {
            PaymentMethod::Cash => {
                has_cash = true;
                cash_tendered += t.amount;
            }
            _ => non_cash += t.amount,
        }
    }
    check_amount(cash_tendered)?;
    if non_cash > amount_due {
        return Err(PaymentError::NonCashExceedsDue {
            over: non_cash - amount_due,
        });
    }
    let remaining = amount_due - non_cash;
    let (cash_due, change) = if has_cash {
        if remaining.is_zero() {
            return Err(PaymentError::CashNotNeeded);
        }
        let increment = cash_increment.get();
        let cash_due = round_half_up(remaining, increment)?;
        if cash_tendered < cash_due {
            return Err(PaymentError::Short {
                missing: cash_due - cash_tendered,
            });
        }
        (cash_due, round_down(cash_tendered - cash_due, increment)?)
    } else {
        if remaining > Decimal::ZERO {
            return Err(PaymentError::Short { missing: remaining });
        }
        (Decimal::ZERO, Decimal::ZERO)
    };
    let cash_kept = cash_tendered - change;
    let mut payments: Vec<Tender> = tenders
        .iter()
        .filter(|t| t.method != PaymentMethod::Cash)
        .cloned()
        .collect();
    if has_cash {
        payments.push(Tender::cash(cash_kept));
    }
    let method = match tenders {
        [only] => only.method.into(),
        [] => TransactionPaymentMethod::Cash,
        _ => TransactionPaymentMethod::Split,
    };
    Ok(Settlement {
        amount_due,
        cash_due,
        cash_tendered,
        change,
        rounding_adjustment: if has_cash {
            cash_kept - remaining
        } else {
            Decimal::ZERO
        },
        payments,
        method,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn inc(d: Decimal) -> CashIncrement {
        CashIncrement::new(d).unwrap()
    }

    #[test]
    fn cash_with_change_rounded_to_the_increment() {
        let s = settle(dec!(12345), &[Tender::cash(dec!(20000))], inc(dec!(100))).unwrap();
        assert_eq!(s.cash_due, dec!(12300));
        assert_eq!(s.change, dec!(7700));
        assert_eq!(s.rounding_adjustment, dec!(-45));
        assert_eq!(s.method, TransactionPaymentMethod::Cash);
        assert_eq!(s.payments, vec![Tender::cash(dec!(12300))]);

        let s = settle(dec!(12350), &[Tender::cash(dec!(20000))], inc(dec!(100))).unwrap();
        assert_eq!((s.cash_due, s.change), (dec!(12400), dec!(7600)));
        assert_eq!(s.rounding_adjustment, dec!(50));

        let s = settle(dec!(12345), &[Tender::cash(dec!(13000))], inc(dec!(500))).unwrap();
        assert_eq!((s.cash_due, s.change), (dec!(12500), dec!(500)));
    }

    #[test]
    fn exact_cash_rounded_down_is_enough() {
        let s = settle(dec!(12345), &[Tender::cash(dec!(12300))], inc(dec!(100))).unwrap();
        assert_eq!(s.change, dec!(0));
        assert_eq!(
            settle(dec!(12350), &[Tender::cash(dec!(12300))], inc(dec!(100))),
            Err(PaymentError::Short { missing: dec!(100) })
        );
    }

    #[test]
    fn split_card_and_cash() {
        let s = settle(
            dec!(12345),
            &[
                Tender::new(PaymentMethod::Card, dec!(10000)),
                Tender::cash(dec!(5000)),
            ],
            inc(dec!(100)),
        )
        .unwrap();
        assert_eq!(s.method, TransactionPaymentMethod::Split);
        assert_eq!((s.cash_due, s.change), (dec!(2300), dec!(2700)));
        let paid: Decimal = s.payments.iter().map(|p| p.amount).sum();
        assert_eq!(paid, s.amount_due + s.rounding_adjustment);
    }

    #[test]
    fn non_cash_never_exceeds_the_due() {
        assert_eq!(
            settle(
                dec!(10000),
                &[Tender::new(PaymentMethod::EWallet, dec!(10001))],
                inc(dec!(100))
            ),
            Err(PaymentError::NonCashExceedsDue { over: dec!(1) })
        );
        assert_eq!(
            settle(
                dec!(10000),
                &[
                    Tender::new(PaymentMethod::Card, dec!(6000)),
                    Tender::new(PaymentMethod::BankTransfer, dec!(3000))
                ],
                inc(dec!(100))
            ),
            Err(PaymentError::Short {
                missing: dec!(1000)
            })
        );
        let s = settle(
            dec!(10000),
            &[
                Tender::new(PaymentMethod::Card, dec!(6000)),
                Tender::new(PaymentMethod::BankTransfer, dec!(4000)),
            ],
            inc(dec!(100)),
        )
        .unwrap();
        assert_eq!((s.change, s.rounding_adjustment), (dec!(0), dec!(0)));
    }

    #[test]
    fn refuses_nonsense() {
        let i = inc(dec!(100));
        assert_eq!(settle(dec!(1000), &[], i), Err(PaymentError::NoTender));
        assert_eq!(
            settle(dec!(1000), &[Tender::cash(dec!(0))], i),
            Err(PaymentError::NotPositive(dec!(0)))
        );
        assert_eq!(
            settle(
                dec!(1000),
                &[
                    Tender::new(PaymentMethod::Card, dec!(1000)),
                    Tender::cash(dec!(500))
                ],
                i
            ),
            Err(PaymentError::CashNotNeeded)
        );
        assert_eq!(
            settle(dec!(1), &vec![Tender::cash(dec!(1)); 9], i),
            Err(PaymentError::TooManyTenders)
        );
        assert!(settle(dec!(0), &[], i).is_ok());
    }
}
