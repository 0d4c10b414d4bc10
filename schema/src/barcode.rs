//! Barcodes: EAN-13, EAN-8 and UPC-A with check digits, UPC-A ↔ EAN-13 normalization, and
//! in-store variable-measure codes (GS1 prefixes 20–29) read through a configurable
//! nomenclature.
//!
//! [`parse`] never panics, whatever it is given: it looks only at ASCII digits and bounds the
//! input length before doing anything else.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Longest input looked at; anything longer is refused without being read further.
pub const MAX_INPUT_LEN: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Symbology {
    Ean13,
    Ean8,
    UpcA,
}

/// A valid trade item number. `key` is the form products are looked up by: EAN-13 for
/// EAN-13 and UPC-A (UPC-A gets a leading zero), the 8 digits for EAN-8.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Gtin {
    pub symbology: Symbology,
    pub key: String,
}

impl Gtin {
    /// The UPC-A form, when this EAN-13 starts with 0.
    pub fn as_upc_a(&self) -> Option<&str> {
        (self.key.len() == 13 && self.key.starts_with('0')).then(|| &self.key[1..])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeasureKind {
    /// The value field is a weight; after the divisor it is in grams.
    Weight,
    /// The value field is a price; after the divisor it is in the store currency.
    Price,
}

/// The value a variable-measure code carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Measure {
    Weight { grams: Decimal },
    Price { amount: Decimal },
}

impl Measure {
    /// Weight in kilograms, the unit weighed goods are priced in.
    pub fn kilograms(&self) -> Option<Decimal> {
        match self {
            Measure::Weight { grams } => Some(grams / Decimal::ONE_THOUSAND),
            Measure::Price { .. } => None,
        }
    }
}

/// A code printed by an in-store scale or labeller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableMeasure {
    pub prefix: u8,
    /// The item part, looked up as `"{prefix}{item_code}"` (see [`VariableMeasure::lookup_key`]).
    pub item_code: String,
    pub measure: Measure,
    pub raw: String,
}

impl VariableMeasure {
    /// The key a scale item is registered under: prefix and item code, e.g. `2012345`.
    pub fn lookup_key(&self) -> String {
        format!("{}{}", self.prefix, self.item_code)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Scanned {
    Gtin(Gtin),
    VariableMeasure(VariableMeasure),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BarcodeError {
    #[error("empty barcode")]
    Empty,
    #[error("barcode is longer than {MAX_INPUT_LEN} characters")]
    TooLong,
    #[error("barcode contains a non-digit at position {position}")]
    NonDigit { position: usize },
    #[error("barcode has {len} digits; EAN-13, UPC-A and EAN-8 have 13, 12 and 8")]
    BadLength { len: usize },
    #[error("check digit is {found}, expected {expected}: rescan the item")]
    BadCheckDigit { expected: u8, found: u8 },
}

/// One variable-measure layout: `PP` prefix, item code, value, check digit
/// (`2 + item_code_digits + value_digits = 12`). GS1's optional price check digit is not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableMeasureRule {
    pub prefix: u8,
    pub item_code_digits: u8,
    pub value_digits: u8,
    pub kind: MeasureKind,
    /// The printed value is divided by this (1: grams or whole rupiah as printed).
    pub divisor: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NomenclatureError {
    #[error("variable-measure prefix {0} is not in 20–29")]
    BadPrefix(u8),
    #[error("prefix {prefix}: item code ({item}) and value ({value}) digits must add up to 10")]
    BadLayout { prefix: u8, item: u8, value: u8 },
    #[error("prefix {0}: divisor must be positive")]
    BadDivisor(u8),
    #[error("prefix {0} is defined twice")]
    DuplicatePrefix(u8),
}

/// How a store reads its in-store codes. Prefixes without a rule are ordinary EAN-13s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    try_from = "Vec<VariableMeasureRule>",
    into = "Vec<VariableMeasureRule>"
)]
pub struct Nomenclature {
    rules: Vec<VariableMeasureRule>,
}

impl Nomenclature {
    pub fn new(rules: Vec<VariableMeasureRule>) -> Result<Self, NomenclatureError> {
        let mut seen = [false; 10];
        for r in &rules {
            if !(20..=29).contains(&r.prefix) {
                return Err(NomenclatureError::BadPrefix(r.prefix));
            }
            if u16::from(r.item_code_digits) + u16::from(r.value_digits) != 10
                || r.item_code_digits == 0
                || r.value_digits == 0
            {
                return Err(NomenclatureError::BadLayout {
                    prefix: r.prefix,
                    item: r.item_code_digits,
                    value: r.value_digits,
                });
            }
            if r.divisor <= Decimal::ZERO {
                return Err(NomenclatureError::BadDivisor(r.prefix));
            }
            let slot = usize::from(r.prefix - 20);
            if seen[slot] {
                return Err(NomenclatureError::DuplicatePrefix(r.prefix));
            }
            seen[slot] = true;
        }
        Ok(Nomenclature { rules })
    }

    /// No variable-measure codes at all.
    pub fn none() -> Self {
        Nomenclature { rules: Vec::new() }
    }

    pub fn rules(&self) -> &[VariableMeasureRule] {
        &self.rules
    }

    fn rule(&self, prefix: u8) -> Option<&VariableMeasureRule> {
        self.rules.iter().find(|r| r.prefix == prefix)
    }
}

impl Default for Nomenclature {
    /// Rupiah-correct defaults: prefixes 20–24 carry a weight in grams (`20 IIIII WWWWW C`, up
    /// to 99,999 kg); 25–29 carry a price in whole rupiah (`25 IIII PPPPPP C`, up to
    /// Rp 999.999) — not cents, there are none.
    fn default() -> Self {
        let mut rules = Vec::with_capacity(10);
        for prefix in 20..=24 {
            rules.push(VariableMeasureRule {
                prefix,
                item_code_digits: 5,
                value_digits: 5,
                kind: MeasureKind::Weight,
                divisor: Decimal::ONE,
            });
        }
        for prefix in 25..=29 {
            rules.push(VariableMeasureRule {
                prefix,
                item_code_digits: 4,
                value_digits: 6,
                kind: MeasureKind::Price,
                divisor: Decimal::ONE,
            });
        }
        Nomenclature { rules }
    }
}

impl TryFrom<Vec<VariableMeasureRule>> for Nomenclature {
    type Error = NomenclatureError;
    fn try_from(rules: Vec<VariableMeasureRule>) -> Result<Self, Self::Error> {
        Nomenclature::new(rules)
    }
}

impl From<Nomenclature> for Vec<VariableMeasureRule> {
    fn from(n: Nomenclature) -> Self {
        n.rules
    }
}

/// The GS1 check digit of `digits` (everything but the check digit itself).
pub fn check_digit(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(*d) * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    // (10 - sum % 10) % 10 is always in 0..=9.
    u8::try_from((10 - sum % 10) % 10).unwrap_or(0)
}

/// Parses what a scanner sent. Surrounding whitespace (a scanner's CR/LF) is ignored.
pub fn parse(input: &str, nomenclature: &Nomenclature) -> Result<Scanned, BarcodeError> {
    if input.len() > MAX_INPUT_LEN {
        return Err(BarcodeError::TooLong);
    }
    let s = input.trim();
    if s.is_empty() {
        return Err(BarcodeError::Empty);
    }
    let mut digits = Vec::with_capacity(s.len());
    for (position, ch) in s.chars().enumerate() {
        match ch.to_digit(10) {
            Some(d) if ch.is_ascii_digit() => digits.push(u8::try_from(d).unwrap_or(0)),
            _ => return Err(BarcodeError::NonDigit { position }),
        }
    }
    let symbology = match digits.len() {
        13 => Symbology::Ean13,
        12 => Symbology::UpcA,
        8 => Symbology::Ean8,
        len => return Err(BarcodeError::BadLength { len }),
    };
    let (body, check) = digits.split_at(digits.len() - 1);
    let expected = check_digit(body);
    if check[0] != expected {
        return Err(BarcodeError::BadCheckDigit {
            expected,
            found: check[0],
        });
    }
    let key = match symbology {
        Symbology::UpcA => format!("0{s}"),
        _ => s.to_string(),
    };
    if symbology == Symbology::Ean13 {
        let prefix = digits[0] * 10 + digits[1];
        if let Some(rule) = nomenclature.rule(prefix) {
            return Ok(Scanned::VariableMeasure(read_variable(&digits, rule, s)));
        }
    }
    Ok(Scanned::Gtin(Gtin { symbology, key }))
}

fn read_variable(digits: &[u8], rule: &VariableMeasureRule, raw: &str) -> VariableMeasure {
    let item_end = 2 + usize::from(rule.item_code_digits);
    let item_code: String = digits[2..item_end]
        .iter()
        .map(|d| char::from(b'0' + d))
        .collect();
    let value = digits[item_end..12]
        .iter()
        .fold(0i64, |acc, d| acc * 10 + i64::from(*d));
    let value = Decimal::from(value) / rule.divisor;
    let measure = match rule.kind {
        MeasureKind::Weight => Measure::Weight { grams: value },
        MeasureKind::Price => Measure::Price { amount: value },
    };
    VariableMeasure {
        prefix: rule.prefix,
        item_code,
        measure,
        raw: raw.to_string(),
    }
}

/// Appends the check digit to a 7-, 11- or 12-digit body (labels, tests, fixtures).
pub fn with_check_digit(body: &str) -> Option<String> {
    if !matches!(body.len(), 7 | 11 | 12) || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
    Some(format!("{body}{}", check_digit(&digits)))
}

/// Normalizes a UPC-A to its EAN-13 form; EAN-13 and EAN-8 stay as they are.
pub fn normalize(code: &str) -> Result<String, BarcodeError> {
    parse(code, &Nomenclature::none()).map(|s| match s {
        Scanned::Gtin(g) => g.key,
        Scanned::VariableMeasure(v) => v.raw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    #[test]
    fn known_codes() {
        // Indomie Goreng (EAN-13, Indonesia's 899 prefix).
        let s = parse("8998866200301", &Nomenclature::default()).unwrap();
        assert_eq!(
            s,
            Scanned::Gtin(Gtin {
                symbology: Symbology::Ean13,
                key: "8998866200301".into()
            })
        );
        // UPC-A 036000291452 is EAN-13 0036000291452.
        let s = parse("036000291452\r\n", &Nomenclature::default()).unwrap();
        let Scanned::Gtin(g) = s else {
            panic!("not a GTIN")
        };
        assert_eq!(g.symbology, Symbology::UpcA);
        assert_eq!(g.key, "0036000291452");
        assert_eq!(g.as_upc_a(), Some("036000291452"));
        assert_eq!(normalize("0036000291452").unwrap(), "0036000291452");
        // EAN-8.
        assert!(matches!(
            parse("96385074", &Nomenclature::default()),
            Ok(Scanned::Gtin(Gtin {
                symbology: Symbology::Ean8,
                ..
            }))
        ));
    }

    #[test]
    fn refuses_bad_codes() {
        let n = Nomenclature::default();
        assert_eq!(parse("", &n), Err(BarcodeError::Empty));
        assert_eq!(parse("  ", &n), Err(BarcodeError::Empty));
        assert_eq!(
            parse("8998866200302", &n),
            Err(BarcodeError::BadCheckDigit {
                expected: 1,
                found: 2
            })
        );
        assert_eq!(
            parse("89988662003", &n),
            Err(BarcodeError::BadLength { len: 11 })
        );
        assert_eq!(
            parse("89988a6200301", &n),
            Err(BarcodeError::NonDigit { position: 5 })
        );
        assert_eq!(
            parse("８９９８８６６２００３０１", &n),
            Err(BarcodeError::NonDigit { position: 0 })
        );
        assert_eq!(parse(&"1".repeat(65), &n), Err(BarcodeError::TooLong));
    }

    #[test]
    fn weighed_goods_in_grams() {
        // 20 12345 01250 C → item 12345, 1250 g.
        let code = with_check_digit("201234501250").unwrap();
        let Scanned::VariableMeasure(v) = parse(&code, &Nomenclature::default()).unwrap() else {
            panic!("not variable")
        };
        assert_eq!(v.item_code, "12345");
        assert_eq!(v.lookup_key(), "2012345");
        assert_eq!(v.measure, Measure::Weight { grams: dec!(1250) });
        assert_eq!(v.measure.kilograms(), Some(dec!(1.25)));
    }

    #[test]
    fn priced_goods_in_whole_rupiah() {
        // 25 0042 045500 C → item 0042, Rp 45.500 (not Rp 455,00).
        let code = with_check_digit("250042045500").unwrap();
        let Scanned::VariableMeasure(v) = parse(&code, &Nomenclature::default()).unwrap() else {
            panic!("not variable")
        };
        assert_eq!(v.item_code, "0042");
        assert_eq!(
            v.measure,
            Measure::Price {
                amount: dec!(45500)
            }
        );
        // Without a nomenclature the same code is an ordinary EAN-13.
        assert!(matches!(
            parse(&code, &Nomenclature::none()),
            Ok(Scanned::Gtin(_))
        ));
    }

    #[test]
    fn nomenclature_is_validated() {
        let rule = |prefix, item, value| VariableMeasureRule {
            prefix,
            item_code_digits: item,
            value_digits: value,
            kind: MeasureKind::Price,
            divisor: dec!(1),
        };
        assert_eq!(
            Nomenclature::new(vec![rule(19, 5, 5)]),
            Err(NomenclatureError::BadPrefix(19))
        );
        assert!(matches!(
            Nomenclature::new(vec![rule(21, 5, 4)]),
            Err(NomenclatureError::BadLayout { .. })
        ));
        assert_eq!(
            Nomenclature::new(vec![rule(21, 5, 5), rule(21, 4, 6)]),
            Err(NomenclatureError::DuplicatePrefix(21))
        );
        // A divisor of 100 for a chain that prints cents.
        let n = Nomenclature::new(vec![VariableMeasureRule {
            divisor: dec!(100),
            ..rule(28, 5, 5)
        }])
        .unwrap();
        let code = with_check_digit("280000112345").unwrap();
        let Ok(Scanned::VariableMeasure(v)) = parse(&code, &n) else {
            panic!("not variable")
        };
        assert_eq!(
            v.measure,
            Measure::Price {
                amount: dec!(123.45)
            }
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10_000))]

        #[test]
        fn never_panics_on_any_string(s in any::<String>()) {
            let _ = parse(&s, &Nomenclature::default());
        }

        #[test]
        fn never_panics_on_digit_soup(s in "[0-9 \\r\\n\\t]{0,20}") {
            let _ = parse(&s, &Nomenclature::default());
        }

        #[test]
        fn every_valid_ean13_parses_and_every_single_digit_error_is_caught(
            body in "[0-9]{12}", pos in 0usize..13, delta in 1u8..10
        ) {
            let code = with_check_digit(&body).unwrap();
            prop_assert!(parse(&code, &Nomenclature::none()).is_ok());
            let mut bytes = code.into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let broken = String::from_utf8(bytes).unwrap();
            prop_assert!(
                matches!(
                    parse(&broken, &Nomenclature::none()),
                    Err(BarcodeError::BadCheckDigit { .. })
                ),
                "error not caught"
            );
        }

        #[test]
        fn upc_a_and_its_ean13_form_are_the_same_product(body in "[0-9]{11}") {
            let upc = with_check_digit(&body).unwrap();
            let ean = format!("0{upc}");
            prop_assert_eq!(normalize(&upc).unwrap(), ean.clone());
            prop_assert_eq!(normalize(&ean).unwrap(), ean);
        }
    }
}
