//! Transaction numbers, unique chain-wide without coordination (invariant I5).
//!
//! A number is `STORE-LLL-SSSSSSSS`: the store code (unique in the chain, assigned by HQ), the
//! lane number (unique in the store, assigned at enrollment and never reused), and the lane's
//! own sequence (persisted by the lane, never reset). No two lanes share a (store, lane) pair,
//! and no lane repeats a sequence, so no two sales share a number. Formatting is canonical
//! (fixed zero padding), so distinct numbers are distinct strings and `parse(format(n)) == n`.
//!
//! A store code may itself contain `-` (`JKT-001`), as chains' codes do: the lane and the
//! sequence are the last two parts and contain only digits, so a number splits one way only,
//! from the right (`JKT-001-003-00000042` is store `JKT-001`, lane 3, sale 42). HQ keeps store
//! codes unique without regard to case, so two stores never print numbers that differ only in
//! case.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A store code as the seed allows it (`store_code VARCHAR(50)`): 1 to 50 characters, ASCII
/// letters, digits, `-` and `_`, beginning and ending with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StoreCode(String);

/// The longest store code (the seed's `VARCHAR(50)`).
pub const MAX_STORE_CODE: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnNumberError {
    #[error(
        "store code must be 1–50 characters: letters, digits, '-' or '_', beginning and ending with a letter or digit; got {0:?}"
    )]
    BadStoreCode(String),
    #[error("lane must be 1–999, got {0}")]
    BadLane(u32),
    #[error("sequence must be 1–{MAX_SEQ}, got {0}")]
    BadSequence(u64),
    #[error("{0:?} is not a transaction number (expected STORE-LLL-SSSSSSSS)")]
    Malformed(String),
}

impl StoreCode {
    pub fn new(code: &str) -> Result<Self, TxnNumberError> {
        let b = code.as_bytes();
        let ok = (1..=MAX_STORE_CODE).contains(&b.len())
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric();
        if ok {
            Ok(StoreCode(code.to_string()))
        } else {
            Err(TxnNumberError::BadStoreCode(
                code.chars().take(64).collect(),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

crate::api_schema::string_schema!(
    StoreCode,
    "StoreCode",
    "^[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?$",
    1,
    MAX_STORE_CODE
);

impl fmt::Display for StoreCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for StoreCode {
    type Error = TxnNumberError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        StoreCode::new(&value)
    }
}

impl From<StoreCode> for String {
    fn from(value: StoreCode) -> Self {
        value.0
    }
}

impl FromStr for StoreCode {
    type Err = TxnNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StoreCode::new(s)
    }
}

/// A lane (till) number within its store, 1–999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct LaneNo(u16);

impl LaneNo {
    pub fn new(n: u32) -> Result<Self, TxnNumberError> {
        match u16::try_from(n) {
            Ok(v) if (1..=999).contains(&v) => Ok(LaneNo(v)),
            _ => Err(TxnNumberError::BadLane(n)),
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

impl TryFrom<u32> for LaneNo {
    type Error = TxnNumberError;
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        LaneNo::new(value)
    }
}

impl From<LaneNo> for u32 {
    fn from(value: LaneNo) -> Self {
        u32::from(value.0)
    }
}

impl fmt::Display for LaneNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.0)
    }
}

/// Largest sequence: 12 digits, far beyond a lane's lifetime.
pub const MAX_SEQ: u64 = 999_999_999_999;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TxnNumber {
    pub store: StoreCode,
    pub lane: LaneNo,
    pub seq: u64,
}

impl TxnNumber {
    pub fn new(store: StoreCode, lane: LaneNo, seq: u64) -> Result<Self, TxnNumberError> {
        if !(1..=MAX_SEQ).contains(&seq) {
            return Err(TxnNumberError::BadSequence(seq));
        }
        Ok(TxnNumber { store, lane, seq })
    }

    /// The next number of the same lane.
    pub fn next(&self) -> Result<Self, TxnNumberError> {
        TxnNumber::new(self.store.clone(), self.lane, self.seq + 1)
    }
}

/// At least 8 sequence digits; more only once a lane passes 99,999,999 sales.
impl fmt::Display for TxnNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{:08}", self.store, self.lane, self.seq)
    }
}

impl FromStr for TxnNumber {
    type Err = TxnNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = || TxnNumberError::Malformed(s.chars().take(64).collect());
        if s.len() > MAX_STORE_CODE + 18 {
            return Err(malformed());
        }
        // From the right: the store code may contain '-', the lane and sequence may not.
        let mut parts = s.rsplitn(3, '-');
        let (Some(seq), Some(lane), Some(store)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed());
        };
        let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(lane) || !all_digits(seq) || lane.len() != 3 || seq.len() < 8 {
            return Err(malformed());
        }
        let lane_n: u32 = lane.parse().map_err(|_| malformed())?;
        let seq_n: u64 = seq.parse().map_err(|_| malformed())?;
        let n = TxnNumber::new(StoreCode::new(store)?, LaneNo::new(lane_n)?, seq_n)?;
        // Only the canonical spelling parses, so one number has one string.
        if n.to_string() != s {
            return Err(malformed());
        }
        Ok(n)
    }
}

impl TryFrom<String> for TxnNumber {
    type Error = TxnNumberError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<TxnNumber> for String {
    fn from(value: TxnNumber) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_and_parses() {
        let n = TxnNumber::new(
            StoreCode::new("JKT01").unwrap(),
            LaneNo::new(3).unwrap(),
            42,
        )
        .unwrap();
        assert_eq!(n.to_string(), "JKT01-003-00000042");
        assert_eq!("JKT01-003-00000042".parse::<TxnNumber>().unwrap(), n);
        assert_eq!(n.next().unwrap().to_string(), "JKT01-003-00000043");
        let big = TxnNumber::new(n.store.clone(), n.lane, 123_456_789).unwrap();
        assert_eq!(big.to_string(), "JKT01-003-123456789");
        assert_eq!(big.to_string().parse::<TxnNumber>().unwrap(), big);
    }

    #[test]
    fn store_codes_as_chains_write_them() {
        for code in [
            "JKT-001",
            "jkt_pusat-02",
            "A",
            "BDG-001-003",
            &"X".repeat(50),
        ] {
            let n =
                TxnNumber::new(StoreCode::new(code).unwrap(), LaneNo::new(3).unwrap(), 42).unwrap();
            let s = n.to_string();
            assert_eq!(s.parse::<TxnNumber>().unwrap(), n, "{s}");
        }
        // A store whose code looks like another's number prefix still parses one way.
        let n: TxnNumber = "BDG-001-003-00000042".parse().unwrap();
        assert_eq!((n.store.as_str(), n.lane.get(), n.seq), ("BDG-001", 3, 42));
        for bad in [
            "",
            "-JKT",
            "JKT-",
            "JKT 01",
            "JKT/01",
            "JKTé",
            &"X".repeat(51),
        ] {
            assert!(StoreCode::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn refuses_non_canonical_and_malformed() {
        for s in [
            "",
            "JKT01",
            "JKT01-3-00000042",
            "JKT01-003-42",
            "JKT01-003-000000042",
            "JKT01-000-00000042",
            "JKT01-003-00000000",
            "JKT01-003-0000004a",
            "JKT01-+03-00000042",
            "-003-00000042",
            "JKT--003-00000042",
            "JKT 01-003-00000042",
            "JKT01-003-00000042-",
        ] {
            assert!(s.parse::<TxnNumber>().is_err(), "{s:?} parsed");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10_000))]

        #[test]
        fn round_trips_and_is_injective(
            store in "[A-Za-z0-9]([A-Za-z0-9_-]{0,48}[A-Za-z0-9])?", lane in 1u32..=999, seq in 1u64..=MAX_SEQ,
            store2 in "[A-Z0-9]{1,3}(-[0-9]{3}){0,2}", lane2 in 1u32..=999, seq2 in 1u64..=MAX_SEQ,
        ) {
            let a = TxnNumber::new(StoreCode::new(&store).unwrap(), LaneNo::new(lane).unwrap(), seq).unwrap();
            let b = TxnNumber::new(StoreCode::new(&store2).unwrap(), LaneNo::new(lane2).unwrap(), seq2).unwrap();
            prop_assert_eq!(a.to_string().parse::<TxnNumber>().unwrap(), a.clone());
            prop_assert_eq!(a == b, a.to_string() == b.to_string());
        }

        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = s.parse::<TxnNumber>();
        }
    }
}
