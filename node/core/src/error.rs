//! The till engine's one error type. Every variant reads as a message a cashier or a manager
//! can act on; the UI shows `to_string()`.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use kasir_schema::Decimal;
use kasir_schema::roles::Permission;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("{path}: not a kasir till database ({detail}); it was left untouched")]
    ForeignDatabase { path: PathBuf, detail: String },
    #[error(
        "{path}: the database file is damaged ({detail}); restore it from a backup or another lane"
    )]
    CorruptDatabase { path: PathBuf, detail: String },
    #[error("{path}: {detail}")]
    DatabaseOpen { path: PathBuf, detail: String },
    #[error("the till is not set up yet: run the store setup first")]
    NotInitialized,
    #[error("the till is already set up for store {0}")]
    AlreadyInitialized(String),

    #[error("barcode {code} not found: search the product by name or SKU instead")]
    BarcodeNotFound { code: String },
    #[error("{what} not found{}", hint.as_deref().map(|h| format!(": {h}")).unwrap_or_default())]
    NotFound { what: String, hint: Option<String> },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Barcode(#[from] kasir_schema::barcode::BarcodeError),
    #[error(transparent)]
    Quantity(#[from] kasir_schema::checkout::QuantityError),
    #[error(transparent)]
    Checkout(#[from] kasir_schema::checkout::CheckoutError),
    #[error(transparent)]
    Payment(#[from] kasir_schema::payment::PaymentError),
    #[error(transparent)]
    Money(#[from] kasir_schema::money::MoneyError),

    #[error("wrong username or PIN ({remaining} attempts left before the account is locked)")]
    WrongCredentials { remaining: u32 },
    #[error(
        "the account is locked until {until} after too many wrong PINs; a manager can unlock it"
    )]
    LockedOut { until: DateTime<Utc> },
    #[error("the account is deactivated")]
    Inactive,
    #[error("nobody is logged in")]
    NotLoggedIn,
    #[error("{0:?} needs a supervisor's or manager's approval")]
    ApprovalRequired(Permission),
    #[error("the approver may not approve {0:?}")]
    ApproverNotAllowed(Permission),

    #[error("no shift is open on this lane: open one with a cash float first")]
    NoOpenShift,
    #[error("a shift is already open on this lane")]
    ShiftAlreadyOpen,
    #[error("the cart is empty")]
    EmptyCart,
    #[error("line {0} is not in the cart")]
    NoSuchLine(usize),
    #[error("line {line}: only {remaining} can still be returned")]
    ReturnExceedsSold { line: u16, remaining: Decimal },
    #[error("customer has {available} points, {requested} requested")]
    NotEnoughPoints { available: i64, requested: i64 },

    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("document store: {0}")]
    Document(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

impl From<automerge::AutomergeError> for NodeError {
    fn from(e: automerge::AutomergeError) -> Self {
        NodeError::Document(e.to_string())
    }
}

impl From<kasir_schema::sql::scaled::ScaleError> for NodeError {
    fn from(e: kasir_schema::sql::scaled::ScaleError) -> Self {
        NodeError::Invalid(e.to_string())
    }
}

pub type Result<T, E = NodeError> = std::result::Result<T, E>;
