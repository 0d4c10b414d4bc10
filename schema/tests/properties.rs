//! Property tests of the checkout math, payments and money text, 10,000 cases each.

use kasir_schema::checkout::{Discount, LineInput, PricingContext, Quantity, compute_totals};
use kasir_schema::money::{format_decimal, parse_decimal, round_down, round_half_up};
use kasir_schema::payment::{PaymentError, PaymentMethod, Tender, settle};
use kasir_schema::tax::{PriceMode, TaxConfig, TaxRate};
use kasir_schema::{CashIncrement, Currency, Decimal, Money};
use proptest::prelude::*;
use proptest::sample::Index;

const CASES: u32 = 10_000;

fn quantity() -> impl Strategy<Value = Quantity> {
    prop_oneof![
        (1i64..=20).prop_map(Decimal::from),
        // weighed goods: 0,001 kg to 9,999 kg
        (1i64..=9_999).prop_map(|g| Decimal::new(g, 3)),
    ]
    .prop_map(|q| Quantity::new(q).unwrap())
}

fn price() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        (0i64..=2_000_000).prop_map(Decimal::from),
        (1i64..=5_000).prop_map(|p| Decimal::from(p * 500)),
    ]
}

fn discount() -> impl Strategy<Value = Option<Discount>> {
    prop_oneof![
        3 => Just(None),
        1 => (0i64..=10_000).prop_map(|bp| Some(Discount::Percent(Decimal::new(bp, 2)))),
        1 => (0i64..=2_000).prop_map(|a| Some(Discount::Amount(Decimal::from(a)))),
    ]
}

fn line() -> impl Strategy<Value = LineInput> {
    (quantity(), price(), discount()).prop_map(|(quantity, unit_price, discount)| {
        let mut l = LineInput {
            quantity,
            unit_price,
            discount,
        };
        // An amount discount above the line is refused (tested elsewhere); keep these valid.
        if let Some(Discount::Amount(a)) = l.discount {
            let gross = round_half_up(unit_price * quantity.get(), Decimal::ONE).unwrap();
            l.discount = Some(Discount::Amount(a.min(gross)));
        }
        l
    })
}

fn context() -> impl Strategy<Value = PricingContext> {
    (0u32..=2_500, any::<bool>()).prop_map(|(bp, inclusive)| PricingContext {
        currency: Currency::Idr,
        tax: TaxConfig {
            rate: TaxRate::new(Decimal::new(i64::from(bp), 2)).unwrap(),
            mode: if inclusive {
                PriceMode::TaxInclusive
            } else {
                PriceMode::TaxExclusive
            },
        },
    })
}

fn txn_discount() -> impl Strategy<Value = Option<Discount>> {
    prop_oneof![
        2 => Just(None),
        1 => (0i64..=5_000).prop_map(|bp| Some(Discount::Percent(Decimal::new(bp, 2)))),
        1 => (0i64..=1_000).prop_map(|a| Some(Discount::Amount(Decimal::from(a)))),
    ]
}

fn increment() -> impl Strategy<Value = CashIncrement> {
    prop_oneof![Just(1i64), Just(100), Just(500), Just(1_000)]
        .prop_map(|i| CashIncrement::new(Decimal::from(i)).unwrap())
}

fn capped(
    discount: Option<Discount>,
    lines: &[LineInput],
    ctx: &PricingContext,
) -> Option<Discount> {
    // A transaction amount discount larger than what is left after line discounts is refused;
    // cap it so the property covers valid carts.
    match discount {
        Some(Discount::Amount(a)) => {
            let t = compute_totals(lines, None, ctx).unwrap();
            Some(Discount::Amount(a.min(t.subtotal - t.discount_amount)))
        }
        other => other,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn totals_do_not_depend_on_line_order(
        lines in prop::collection::vec(line(), 1..15),
        d in txn_discount(),
        ctx in context(),
        swaps in prop::collection::vec((any::<Index>(), any::<Index>()), 0..20),
    ) {
        let d = capped(d, &lines, &ctx);
        let a = compute_totals(&lines, d, &ctx).unwrap();
        let mut shuffled = lines.clone();
        for (i, j) in swaps {
            let (i, j) = (i.index(shuffled.len()), j.index(shuffled.len()));
            shuffled.swap(i, j);
        }
        let b = compute_totals(&shuffled, d, &ctx).unwrap();
        prop_assert_eq!(
            (a.subtotal, a.discount_amount, a.tax_amount, a.net_amount, a.total_amount),
            (b.subtotal, b.discount_amount, b.tax_amount, b.net_amount, b.total_amount)
        );
    }

    #[test]
    fn totals_add_up_exactly(
        lines in prop::collection::vec(line(), 1..15),
        d in txn_discount(),
        ctx in context(),
    ) {
        let d = capped(d, &lines, &ctx);
        let t = compute_totals(&lines, d, &ctx).unwrap();
        let sum = |f: fn(&kasir_schema::checkout::LineTotals) -> Decimal| -> Decimal {
            t.lines.iter().map(f).sum()
        };
        prop_assert_eq!(t.net_amount + t.tax_amount, t.total_amount);
        let expected_total = match ctx.tax.mode {
            PriceMode::TaxInclusive => t.subtotal - t.discount_amount,
            PriceMode::TaxExclusive => t.subtotal - t.discount_amount + t.tax_amount,
        };
        prop_assert_eq!(t.total_amount, expected_total);
        prop_assert_eq!(sum(|l| l.gross), t.subtotal);
        prop_assert_eq!(sum(|l| l.discount_amount) + sum(|l| l.transaction_discount_share), t.discount_amount);
        prop_assert_eq!(sum(|l| l.tax_amount), t.tax_amount);
        prop_assert_eq!(sum(|l| l.amount_due), t.total_amount);
        for l in &t.lines {
            prop_assert_eq!(l.gross - l.discount_amount, l.total_price);
            prop_assert!(l.transaction_discount_share >= Decimal::ZERO);
            prop_assert!(l.transaction_discount_share <= l.total_price);
            prop_assert!(l.tax_amount >= Decimal::ZERO);
            // Whole rupiah everywhere.
            for v in [l.gross, l.discount_amount, l.transaction_discount_share, l.tax_amount] {
                prop_assert_eq!(v.fract(), Decimal::ZERO);
            }
        }
        prop_assert!(t.total_amount >= Decimal::ZERO);
    }

    #[test]
    fn settlement_invariants(
        due in 0i64..=5_000_000,
        inc in increment(),
        tenders in prop::collection::vec(
            (0usize..4, 1i64..=3_000_000).prop_map(|(m, a)| Tender::new(PaymentMethod::ALL[m], Decimal::from(a))),
            0..5,
        ),
    ) {
        let due = Decimal::from(due);
        let non_cash: Decimal = tenders.iter().filter(|t| t.method != PaymentMethod::Cash).map(|t| t.amount).sum();
        let cash: Decimal = tenders.iter().filter(|t| t.method == PaymentMethod::Cash).map(|t| t.amount).sum();
        let has_cash = tenders.iter().any(|t| t.method == PaymentMethod::Cash);
        match settle(due, &tenders, inc) {
            Ok(s) => {
                let paid: Decimal = s.payments.iter().map(|p| p.amount).sum();
                prop_assert_eq!(paid, due + s.rounding_adjustment);
                prop_assert!(non_cash <= due);
                prop_assert!(s.change >= Decimal::ZERO);
                prop_assert_eq!(round_down(s.change, inc.get()).unwrap(), s.change);
                prop_assert_eq!(s.cash_tendered, cash);
                if has_cash {
                    let remaining = due - non_cash;
                    prop_assert!((s.cash_due - remaining).abs() * Decimal::TWO <= inc.get());
                    let kept = cash - s.change;
                    prop_assert!(kept >= s.cash_due);
                    prop_assert!(kept - s.cash_due < inc.get());
                } else {
                    prop_assert_eq!(non_cash, due);
                    prop_assert_eq!(s.rounding_adjustment, Decimal::ZERO);
                }
            }
            Err(PaymentError::NonCashExceedsDue { over }) => prop_assert_eq!(over, non_cash - due),
            Err(PaymentError::Short { missing }) => {
                prop_assert!(missing > Decimal::ZERO);
                if has_cash {
                    let cash_due = round_half_up(due - non_cash, inc.get()).unwrap();
                    prop_assert_eq!(missing, cash_due - cash);
                } else {
                    prop_assert_eq!(missing, due - non_cash);
                }
            }
            Err(PaymentError::CashNotNeeded) => prop_assert!(has_cash && non_cash == due),
            Err(PaymentError::NoTender) => prop_assert!(tenders.is_empty()),
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    #[test]
    fn paying_the_rounded_cash_due_always_works(due in 1i64..=5_000_000, inc in increment(), card in 0i64..=5_000_000) {
        let due = Decimal::from(due);
        let card = Decimal::from(card).min(due - Decimal::ONE);
        let mut tenders = Vec::new();
        if card > Decimal::ZERO {
            tenders.push(Tender::new(PaymentMethod::Card, card));
        }
        let cash_due = round_half_up(due - card.max(Decimal::ZERO), inc.get()).unwrap();
        if cash_due > Decimal::ZERO {
            tenders.push(Tender::cash(cash_due));
            let s = settle(due, &tenders, inc).unwrap();
            prop_assert_eq!(s.change, Decimal::ZERO);
        }
    }

    #[test]
    fn formatted_amounts_parse_back(m in -999_999_999_999_999_i64..=999_999_999_999_999) {
        let value = Decimal::new(m, 2);
        prop_assert_eq!(parse_decimal(&format_decimal(value, 2)).unwrap(), value);
        let money = Money::idr(value).unwrap();
        let text = money.to_string();
        let back = Money::parse(text.trim_start_matches('-'), Currency::Idr).unwrap();
        prop_assert_eq!(back.amount(), value.abs());
    }

    #[test]
    fn rounding_lands_on_the_grid_within_half_a_step(m in -1_000_000_000i64..=1_000_000_000, inc in increment()) {
        let v = Decimal::from(m);
        let r = round_half_up(v, inc.get()).unwrap();
        prop_assert_eq!(round_half_up(r, inc.get()).unwrap(), r);
        prop_assert!((r - v).abs() * Decimal::TWO <= inc.get());
    }

    #[test]
    fn parser_never_panics(s in any::<String>()) {
        let _ = parse_decimal(&s);
        let _ = Money::parse(&s, Currency::Idr);
        let _ = Quantity::parse(&s);
    }
}
