//! Money: a currency-tagged `rust_decimal` amount, Indonesian formatting and parsing, and
//! rounding to an increment.
//!
//! Rules that hold everywhere:
//! - Amounts are exact decimals. Nothing here uses floats, and nothing rounds implicitly: an
//!   operation that would need rounding takes an explicit increment.
//! - Every stored amount has at most [`STORAGE_SCALE`] decimals and an absolute value below
//!   [`MAX_ABS_AMOUNT`], so it fits the HQ column `DECIMAL(15,2)` and the till's integer
//!   hundredths without loss. [`Money::new`] refuses anything else instead of truncating.
//! - Rounding is half-up, meaning half away from zero, so a refund rounds exactly like the sale
//!   it mirrors.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// Decimals kept for any stored amount (matches `DECIMAL(15,2)` at HQ).
pub const STORAGE_SCALE: u32 = 2;

/// Amounts must stay strictly below this in absolute value (13 integer digits of `DECIMAL(15,2)`).
pub const MAX_ABS_AMOUNT: Decimal = Decimal::from_parts(1_316_134_912, 2_328, 0, false, 0); // 10^13

/// ISO 4217 currencies kasir can price in. IDR is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Currency {
    #[default]
    Idr,
    Usd,
    Sgd,
    Myr,
}

impl Currency {
    pub fn code(self) -> &'static str {
        match self {
            Currency::Idr => "IDR",
            Currency::Usd => "USD",
            Currency::Sgd => "SGD",
            Currency::Myr => "MYR",
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Currency::Idr => "Rp",
            Currency::Usd => "US$",
            Currency::Sgd => "S$",
            Currency::Myr => "RM",
        }
    }

    /// Decimals a price, a line total or a tax amount is rounded to at the till.
    /// The rupiah has no coin below 1 in circulation, so IDR amounts are whole rupiah.
    pub fn minor_units(self) -> u32 {
        match self {
            Currency::Idr => 0,
            Currency::Usd | Currency::Sgd | Currency::Myr => 2,
        }
    }

    /// The smallest amount checkout math rounds to (1 for IDR, 0.01 otherwise).
    pub fn unit(self) -> Decimal {
        Decimal::new(1, self.minor_units())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "IDR" => Ok(Currency::Idr),
            "USD" => Ok(Currency::Usd),
            "SGD" => Ok(Currency::Sgd),
            "MYR" => Ok(Currency::Myr),
            _ => Err(MoneyError::UnknownCurrency(s.chars().take(16).collect())),
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("currency mismatch: {0} and {1}")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount {0} is out of range (at most 13 integer digits)")]
    OutOfRange(Decimal),
    #[error("amount {0} has more than {STORAGE_SCALE} decimals; round it explicitly first")]
    TooPrecise(Decimal),
    #[error("unknown currency {0:?}")]
    UnknownCurrency(String),
    #[error("rounding increment must be positive, got {0}")]
    BadIncrement(Decimal),
    #[error("arithmetic overflow")]
    Overflow,
}

/// A currency-tagged amount. Constructed only through checks, so every value is storable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

impl Money {
    /// Checks range and scale; trailing zeros beyond the storage scale are accepted
    /// (`12.500` is 12.5), real digits beyond it are refused.
    pub fn new(amount: Decimal, currency: Currency) -> Result<Self, MoneyError> {
        Ok(Money {
            amount: check_amount(amount)?,
            currency,
        })
    }

    pub fn zero(currency: Currency) -> Self {
        Money {
            amount: Decimal::ZERO,
            currency,
        }
    }

    pub fn idr(amount: Decimal) -> Result<Self, MoneyError> {
        Money::new(amount, Currency::Idr)
    }

    pub fn amount(&self) -> Decimal {
        self.amount
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn is_zero(&self) -> bool {
        self.amount.is_zero()
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let sum = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Money::new(sum, self.currency)
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let diff = self
            .amount
            .checked_sub(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Money::new(diff, self.currency)
    }

    /// Exact product with a quantity. The result is a raw decimal on purpose: it may carry more
    /// decimals than money can, and the caller must round it with an explicit increment.
    pub fn times(self, quantity: Decimal) -> Result<Decimal, MoneyError> {
        self.amount
            .checked_mul(quantity)
            .ok_or(MoneyError::Overflow)
    }

    /// Sum of several amounts of one currency; an empty iterator is zero.
    pub fn sum<I: IntoIterator<Item = Money>>(
        currency: Currency,
        items: I,
    ) -> Result<Money, MoneyError> {
        items
            .into_iter()
            .try_fold(Money::zero(currency), |acc, m| acc.checked_add(m))
    }

    pub fn negate(self) -> Money {
        Money {
            amount: -self.amount,
            currency: self.currency,
        }
    }

    /// Parses what a cashier types (see [`parse_decimal`]), e.g. `Rp 12.500` or `12500`.
    pub fn parse(input: &str, currency: Currency) -> Result<Money, ParseError> {
        let body = strip_currency_prefix(input.trim(), currency);
        let value = parse_decimal(body)?;
        Money::new(value, currency).map_err(|_| ParseError::OutOfRange)
    }

    fn same_currency(&self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(self.currency, other.currency))
        }
    }
}

/// Validates that a raw decimal is a storable amount and returns it normalized.
pub fn check_amount(amount: Decimal) -> Result<Decimal, MoneyError> {
    let normalized = amount.normalize();
    if normalized.scale() > STORAGE_SCALE {
        return Err(MoneyError::TooPrecise(amount));
    }
    if normalized.abs() >= MAX_ABS_AMOUNT {
        return Err(MoneyError::OutOfRange(amount));
    }
    Ok(normalized)
}

/// `Rp 12.500`, `-Rp 1.250.000`, `Rp 12.500,50` (decimals shown only when present).
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.amount.is_sign_negative() && !self.amount.is_zero() {
            "-"
        } else {
            ""
        };
        let decimals = if self.amount.normalize().scale() == 0 {
            0
        } else {
            self.currency.minor_units().max(STORAGE_SCALE)
        };
        write!(
            f,
            "{sign}{} {}",
            self.currency.symbol(),
            format_decimal(self.amount.abs(), decimals)
        )
    }
}

/// Formats a non-negative or negative decimal the Indonesian way: `.` groups thousands, `,`
/// separates decimals, exactly `decimals` digits after the comma (rounded half-up).
pub fn format_decimal(value: Decimal, decimals: u32) -> String {
    let rounded = value.round_dp_with_strategy(decimals, RoundingStrategy::MidpointAwayFromZero);
    let negative = rounded.is_sign_negative() && !rounded.is_zero();
    let text = rounded.abs().to_string();
    let (int_part, frac_part) = match text.split_once('.') {
        Some((i, f)) => (i.to_string(), f.to_string()),
        None => (text, String::new()),
    };
    let mut out = String::with_capacity(int_part.len() + int_part.len() / 3 + 4);
    if negative {
        out.push('-');
    }
    for (i, ch) in int_part.chars().enumerate() {
        if i > 0 && (int_part.len() - i) % 3 == 0 {
            out.push('.');
        }
        out.push(ch);
    }
    if decimals > 0 {
        out.push(',');
        let mut frac = frac_part;
        while frac.len() < decimals as usize {
            frac.push('0');
        }
        out.push_str(&frac);
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("nothing entered")]
    Empty,
    #[error("{0:?} is not a number")]
    NotANumber(String),
    #[error("misplaced thousands separator in {0:?}: write 12.500 or 12500")]
    BadGrouping(String),
    #[error("the number is too large")]
    OutOfRange,
    #[error("too many decimals (at most {max})")]
    TooManyDecimals { max: u32 },
}

/// Longest input accepted: far more than any real amount, small enough that nothing overflows.
const MAX_INPUT_LEN: usize = 40;

/// Parses a number as an Indonesian cashier types it.
///
/// - `,` is the decimal separator: `12,5` is twelve and a half.
/// - `.` groups thousands when every group after the first has exactly three digits:
///   `12.500` is twelve thousand five hundred, `1.250.000` one and a quarter million.
/// - A single `.` that cannot be a thousands separator (`1.5`, `0.25`) is read as a decimal
///   point, for scales and keyboards that print it that way.
/// - An optional leading `-` or `+`; surrounding spaces are ignored.
pub fn parse_decimal(input: &str) -> Result<Decimal, ParseError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(ParseError::Empty);
    }
    if s.len() > MAX_INPUT_LEN {
        return Err(ParseError::OutOfRange);
    }
    let (negative, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let not_a_number = || ParseError::NotANumber(s.to_string());
    if body.is_empty()
        || !body
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b',')
    {
        return Err(not_a_number());
    }
    let (int_part, frac_part) = match body.split_once(',') {
        Some((i, f)) => {
            if f.contains([',', '.']) || f.is_empty() {
                return Err(not_a_number());
            }
            (ungroup(i, s)?, f.to_string())
        }
        None => {
            let groups: Vec<&str> = body.split('.').collect();
            if groups.len() == 1 {
                (body.to_string(), String::new())
            } else if is_thousands_grouping(&groups) {
                (groups.concat(), String::new())
            } else if groups.len() == 2 && !groups[1].is_empty() {
                (groups[0].to_string(), groups[1].to_string())
            } else {
                return Err(ParseError::BadGrouping(s.to_string()));
            }
        }
    };
    let int_part = if int_part.is_empty() {
        "0".to_string()
    } else {
        int_part
    };
    let canonical = if frac_part.is_empty() {
        int_part
    } else {
        format!("{int_part}.{frac_part}")
    };
    let value = Decimal::from_str(&canonical).map_err(|_| ParseError::OutOfRange)?;
    Ok(if negative { -value } else { value })
}

fn is_thousands_grouping(groups: &[&str]) -> bool {
    let first = groups[0];
    !first.is_empty()
        && first.len() <= 3
        && groups[1..]
            .iter()
            .all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()))
}

/// Removes thousands separators from an integer part that must be grouped correctly.
fn ungroup(int_part: &str, whole: &str) -> Result<String, ParseError> {
    if !int_part.contains('.') {
        return Ok(int_part.to_string());
    }
    let groups: Vec<&str> = int_part.split('.').collect();
    if is_thousands_grouping(&groups) {
        Ok(groups.concat())
    } else {
        Err(ParseError::BadGrouping(whole.to_string()))
    }
}

fn strip_currency_prefix(s: &str, currency: Currency) -> &str {
    for prefix in [currency.symbol(), currency.code()] {
        if s.len() >= prefix.len()
            && s.is_char_boundary(prefix.len())
            && s[..prefix.len()].eq_ignore_ascii_case(prefix)
        {
            return s[prefix.len()..].trim_start_matches(['.', ' ']);
        }
    }
    s
}

/// Rounds to a multiple of `increment`, half away from zero (`12.350` → `12.400` at 100).
pub fn round_half_up(value: Decimal, increment: Decimal) -> Result<Decimal, MoneyError> {
    round_with(value, increment, RoundingStrategy::MidpointAwayFromZero)
}

/// Rounds towards zero to a multiple of `increment` (used for change: never hand out more).
pub fn round_down(value: Decimal, increment: Decimal) -> Result<Decimal, MoneyError> {
    round_with(value, increment, RoundingStrategy::ToZero)
}

fn round_with(
    value: Decimal,
    increment: Decimal,
    strategy: RoundingStrategy,
) -> Result<Decimal, MoneyError> {
    if increment <= Decimal::ZERO {
        return Err(MoneyError::BadIncrement(increment));
    }
    let steps = value
        .checked_div(increment)
        .ok_or(MoneyError::Overflow)?
        .round_dp_with_strategy(0, strategy);
    steps
        .checked_mul(increment)
        .map(|d| d.normalize())
        .ok_or(MoneyError::Overflow)
}

/// The cash rounding increment of a store (1, 100, 500 rupiah ...), validated once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct CashIncrement(Decimal);

impl CashIncrement {
    pub fn new(increment: Decimal) -> Result<Self, MoneyError> {
        if increment <= Decimal::ZERO {
            return Err(MoneyError::BadIncrement(increment));
        }
        Ok(CashIncrement(check_amount(increment)?))
    }

    pub fn get(self) -> Decimal {
        self.0
    }
}

impl Default for CashIncrement {
    /// Rp 100: the smallest rupiah coin in everyday use.
    fn default() -> Self {
        CashIncrement(Decimal::ONE_HUNDRED)
    }
}

impl TryFrom<Decimal> for CashIncrement {
    type Error = MoneyError;
    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        CashIncrement::new(value)
    }
}

impl From<CashIncrement> for Decimal {
    fn from(value: CashIncrement) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn max_abs_amount_is_ten_to_the_thirteen() {
        assert_eq!(MAX_ABS_AMOUNT, dec!(10000000000000));
    }

    #[test]
    fn formats_rupiah_as_indonesians_read_it() {
        let cases = [
            (dec!(12500), "Rp 12.500"),
            (dec!(0), "Rp 0"),
            (dec!(999), "Rp 999"),
            (dec!(1000), "Rp 1.000"),
            (dec!(1250000), "Rp 1.250.000"),
            (dec!(-7500), "-Rp 7.500"),
            (dec!(12500.5), "Rp 12.500,50"),
            (dec!(12500.00), "Rp 12.500"),
        ];
        for (amount, expected) in cases {
            assert_eq!(Money::idr(amount).unwrap().to_string(), expected);
        }
    }

    #[test]
    fn parses_what_cashiers_type() {
        let cases = [
            ("12500", dec!(12500)),
            ("12.500", dec!(12500)),
            ("1.250.000", dec!(1250000)),
            ("12,5", dec!(12.5)),
            ("1.250,75", dec!(1250.75)),
            ("0,125", dec!(0.125)),
            ("1.5", dec!(1.5)),
            (",5", dec!(0.5)),
            (" 42 ", dec!(42)),
            ("-3", dec!(-3)),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_decimal(input), Ok(expected), "input {input:?}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_number() {
        for input in [
            "",
            " ",
            "abc",
            "12a",
            "1,2,3",
            "12.50.0",
            "1.2345.678",
            "12,",
            "-",
            "1.000,5.0",
            "١٢",
            "12 500",
        ] {
            assert!(parse_decimal(input).is_err(), "input {input:?} parsed");
        }
        assert_eq!(parse_decimal(&"9".repeat(60)), Err(ParseError::OutOfRange));
    }

    #[test]
    fn money_parse_accepts_the_rupiah_sign() {
        assert_eq!(
            Money::parse("Rp 12.500", Currency::Idr).unwrap().amount(),
            dec!(12500)
        );
        assert_eq!(
            Money::parse("rp12.500", Currency::Idr).unwrap().amount(),
            dec!(12500)
        );
        assert_eq!(
            Money::parse("IDR 1.000", Currency::Idr).unwrap().amount(),
            dec!(1000)
        );
        assert_eq!(
            Money::parse("Rp. 5.000", Currency::Idr).unwrap().amount(),
            dec!(5000)
        );
    }

    #[test]
    fn refuses_silent_precision_loss_and_overflow() {
        assert_eq!(
            Money::idr(dec!(1.005)),
            Err(MoneyError::TooPrecise(dec!(1.005)))
        );
        assert!(Money::idr(dec!(1.500)).is_ok());
        assert!(matches!(
            Money::idr(dec!(10000000000000)),
            Err(MoneyError::OutOfRange(_))
        ));
        let big = Money::idr(dec!(9999999999999)).unwrap();
        assert!(matches!(
            big.checked_add(Money::idr(dec!(1)).unwrap()),
            Err(MoneyError::OutOfRange(_))
        ));
        let usd = Money::new(dec!(1), Currency::Usd).unwrap();
        assert_eq!(
            Money::idr(dec!(1)).unwrap().checked_add(usd),
            Err(MoneyError::CurrencyMismatch(Currency::Idr, Currency::Usd))
        );
    }

    #[test]
    fn rounds_half_up_to_cash_increments() {
        assert_eq!(round_half_up(dec!(12350), dec!(100)).unwrap(), dec!(12400));
        assert_eq!(round_half_up(dec!(12349), dec!(100)).unwrap(), dec!(12300));
        assert_eq!(round_half_up(dec!(12250), dec!(500)).unwrap(), dec!(12500));
        assert_eq!(round_half_up(dec!(12249), dec!(500)).unwrap(), dec!(12000));
        assert_eq!(
            round_half_up(dec!(-12350), dec!(100)).unwrap(),
            dec!(-12400)
        );
        assert_eq!(round_half_up(dec!(12.5), dec!(1)).unwrap(), dec!(13));
        assert_eq!(round_down(dec!(7699), dec!(100)).unwrap(), dec!(7600));
        assert!(round_half_up(dec!(1), dec!(0)).is_err());
        assert!(CashIncrement::new(dec!(-100)).is_err());
    }
}
