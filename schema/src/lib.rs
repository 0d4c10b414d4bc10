//! kasir-schema: the pure core shared by every kasir crate.
//!
//! Domain and wire types, money/tax/checkout math, barcode parsing, transaction numbers and both
//! SQL schemas. **Architecture invariant:** nothing here does I/O, spawns, sleeps or reads a
//! clock; every function is deterministic in its arguments, so the till, the simulator and the
//! gateway compute identical amounts from identical inputs. Money is `rust_decimal`, never a
//! float.

#[macro_use]
pub mod text_enum;
pub mod api_schema;
pub mod barcode;
pub mod checkout;
pub mod domain;
pub mod money;
pub mod payment;
pub mod roles;
pub mod sql;
pub mod tax;
pub mod txn_number;
pub mod wire;

pub use money::{CashIncrement, Currency, Money};
pub use rust_decimal::Decimal;
pub use schemars;
