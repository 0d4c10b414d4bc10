//! Tax (Indonesian PPN) for tax-inclusive and tax-exclusive pricing.
//!
//! **The rounding rule.** Tax is computed once per transaction, on the sum of the discounted
//! line amounts, and rounded half-up to the currency unit (1 rupiah):
//! - inclusive prices: `tax = round(gross × rate / (100 + rate))`, `net = gross − tax`;
//! - exclusive prices: `tax = round(net × rate / 100)`, `gross = net + tax`.
//!
//! So `net + tax = gross` holds exactly by construction, and because a sum of decimals does not
//! depend on order, neither does the tax. Per-line tax shares (needed for partial refunds and
//! reports) are the transaction tax split by [`crate::checkout::allocate`], so they add up to
//! the transaction tax exactly.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{MoneyError, round_half_up};

/// A tax rate in percent, e.g. `11.00` for PPN 11 %. At most two decimals, 0 to 100
/// (the seed's `tax_rate DECIMAL(5,2)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct TaxRate(Decimal);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaxError {
    #[error("tax rate must be between 0 and 100 percent with at most 2 decimals, got {0}")]
    BadRate(Decimal),
    #[error(transparent)]
    Money(#[from] MoneyError),
}

impl TaxRate {
    /// PPN as levied on ordinary goods (11 %; the 12 % rate of 2025 applies to a base of
    /// 11/12 of the price, which is the same 11 % effective).
    pub const PPN: TaxRate = TaxRate(Decimal::from_parts(11, 0, 0, false, 0));
    pub const ZERO: TaxRate = TaxRate(Decimal::ZERO);

    pub fn new(percent: Decimal) -> Result<Self, TaxError> {
        let p = percent.normalize();
        if p < Decimal::ZERO || p > Decimal::ONE_HUNDRED || p.scale() > 2 {
            return Err(TaxError::BadRate(percent));
        }
        Ok(TaxRate(p))
    }

    pub fn percent(self) -> Decimal {
        self.0
    }
}

impl Default for TaxRate {
    fn default() -> Self {
        TaxRate::PPN
    }
}

impl TryFrom<Decimal> for TaxRate {
    type Error = TaxError;
    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        TaxRate::new(value)
    }
}

impl From<TaxRate> for Decimal {
    fn from(value: TaxRate) -> Self {
        value.0
    }
}

/// Whether shelf prices already contain the tax (usual in Indonesian retail) or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceMode {
    #[default]
    TaxInclusive,
    TaxExclusive,
}

/// The store's tax configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TaxConfig {
    pub rate: TaxRate,
    pub mode: PriceMode,
}

/// The result of applying tax to a priced amount: `net + tax = gross` exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaxSplit {
    pub net: Decimal,
    pub tax: Decimal,
    pub gross: Decimal,
}

impl TaxConfig {
    /// Splits `priced` (an amount in the store's price mode: gross when inclusive, net when
    /// exclusive) into net, tax and gross, rounding the tax half-up to `unit`.
    pub fn split(&self, priced: Decimal, unit: Decimal) -> Result<TaxSplit, TaxError> {
        let rate = self.rate.0;
        match self.mode {
            PriceMode::TaxInclusive => {
                let exact = priced
                    .checked_mul(rate)
                    .and_then(|x| x.checked_div(Decimal::ONE_HUNDRED + rate))
                    .ok_or(MoneyError::Overflow)?;
                let tax = round_half_up(exact, unit)?;
                Ok(TaxSplit {
                    net: priced - tax,
                    tax,
                    gross: priced,
                })
            }
            PriceMode::TaxExclusive => {
                let exact = priced
                    .checked_mul(rate)
                    .and_then(|x| x.checked_div(Decimal::ONE_HUNDRED))
                    .ok_or(MoneyError::Overflow)?;
                let tax = round_half_up(exact, unit)?;
                let gross = priced.checked_add(tax).ok_or(MoneyError::Overflow)?;
                Ok(TaxSplit {
                    net: priced,
                    tax,
                    gross,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn cfg(rate: Decimal, mode: PriceMode) -> TaxConfig {
        TaxConfig {
            rate: TaxRate::new(rate).unwrap(),
            mode,
        }
    }

    #[test]
    fn ppn_inclusive_example() {
        // Rp 111.000 including 11 % PPN is Rp 100.000 net plus Rp 11.000 tax.
        let s = cfg(dec!(11), PriceMode::TaxInclusive)
            .split(dec!(111000), dec!(1))
            .unwrap();
        assert_eq!(
            (s.net, s.tax, s.gross),
            (dec!(100000), dec!(11000), dec!(111000))
        );
        // Rp 12.500 incl.: 12500 × 11 / 111 = 1238.738… → 1239.
        let s = cfg(dec!(11), PriceMode::TaxInclusive)
            .split(dec!(12500), dec!(1))
            .unwrap();
        assert_eq!((s.net, s.tax), (dec!(11261), dec!(1239)));
    }

    #[test]
    fn ppn_exclusive_example() {
        // 12500 × 11 % = 1375 exactly.
        let s = cfg(dec!(11), PriceMode::TaxExclusive)
            .split(dec!(12500), dec!(1))
            .unwrap();
        assert_eq!(
            (s.net, s.tax, s.gross),
            (dec!(12500), dec!(1375), dec!(13875))
        );
        // 1050 × 11 % = 115.5 → half-up 116.
        let s = cfg(dec!(11), PriceMode::TaxExclusive)
            .split(dec!(1050), dec!(1))
            .unwrap();
        assert_eq!(s.tax, dec!(116));
    }

    #[test]
    fn refuses_bad_rates() {
        for r in [dec!(-1), dec!(100.01), dec!(11.005)] {
            assert_eq!(TaxRate::new(r), Err(TaxError::BadRate(r)));
        }
        assert!(TaxRate::new(dec!(12.50)).is_ok());
        assert_eq!(TaxRate::PPN.percent(), dec!(11));
    }

    fn rate() -> impl Strategy<Value = Decimal> {
        (0u32..=10_000).prop_map(|bp| Decimal::new(i64::from(bp), 2))
    }

    fn amount() -> impl Strategy<Value = Decimal> {
        (0i64..=1_000_000_000_000).prop_map(Decimal::from)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10_000))]

        #[test]
        fn net_plus_tax_is_gross_exactly(r in rate(), a in amount(), inclusive in any::<bool>()) {
            let mode = if inclusive { PriceMode::TaxInclusive } else { PriceMode::TaxExclusive };
            let s = cfg(r, mode).split(a, dec!(1)).unwrap();
            prop_assert_eq!(s.net + s.tax, s.gross);
            prop_assert!(s.tax >= Decimal::ZERO);
            prop_assert_eq!(s.tax.fract(), Decimal::ZERO);
            // The rounded tax is within half a rupiah of the exact tax on the net amount.
            let exact = match mode {
                PriceMode::TaxInclusive => s.gross * r / (Decimal::ONE_HUNDRED + r),
                PriceMode::TaxExclusive => s.net * r / Decimal::ONE_HUNDRED,
            };
            prop_assert!((s.tax - exact).abs() <= dec!(0.5));
        }
    }
}
