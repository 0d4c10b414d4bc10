//! kasir-node: a lane of the store, with or without a screen.
//!
//! - [`app`]: the one API screens (and the headless binary) use — a [`Node`] handle taking
//!   [`Command`]s and publishing a watchable [`View`]. No SQL and no Automerge type crosses it.
//! - [`lan`]: the iroh driver of the sans-IO lane core (`kasir_core::lane`).
//! - [`simulate`]: random baskets sold through that API (demo store, benchmarks).
//! - `cpu`: a core of its own for the till's thread, replication kept off it.
//! - [`env`]: the production clock and randomness the deterministic core runs with.
//!
//! Arrows run one way: screens → `kasir-node` → `kasir-core` → `kasir-schema`.

pub mod app;
mod cpu;
pub mod env;
pub mod error;
pub mod hq;
pub mod lan;
pub mod simulate;

pub use app::{Command, Node, NodeEvent, NodeOptions, Outcome, View};
pub use error::{Error, Result};
pub use kasir_core::schema;

/// The engine's value types the API hands out (plain data: receipts, products, reports).
pub mod types {
    pub use kasir_core::auth::{Approval, AuthParams, NewUser, UserRow};
    pub use kasir_core::cart::ParkedCart;
    pub use kasir_core::catalog::{CategoryView, ProductView};
    pub use kasir_core::customers::{CustomerView, NewCustomer};
    pub use kasir_core::docs::Origin;
    pub use kasir_core::hq::HqCredential;
    pub use kasir_core::lane::{LaneEvent, PeerStatus};
    pub use kasir_core::live::LiveEvent;
    pub use kasir_core::members::{Member, Ticket};
    pub use kasir_core::receipt::{Receipt, ReceiptLine};
    pub use kasir_core::returns::{ReturnItem, ReturnRecord};
    pub use kasir_core::shift::{CashMove, ShiftReport};
    pub use kasir_core::sync::SyncEvent;
    pub use kasir_core::{Diagnostics, NodeError, TillOptions, default_store_config};
}

/// Generated store data of realistic shape (demo store, benchmarks).
pub use kasir_core::demo;
