//! kasir-node: the till engine every lane runs, with or without a screen.
//!
//! The UI, the simulator and the leader call this crate's API; nothing above it touches SQL or
//! Automerge. Invariants I2–I6 of ARCHITECTURE.md start here.

pub mod db;
pub mod docs;
pub mod error;

pub use error::{NodeError, Result};
pub use kasir_schema as schema;
