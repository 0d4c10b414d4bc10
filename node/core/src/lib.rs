//! kasir-core: the deterministic core every lane runs, with or without a screen.
//!
//! The UI, the simulator and the leader call [`Till`]; nothing above this crate touches SQL or
//! Automerge. Invariants I2–I6 of ARCHITECTURE.md start here:
//! - a sale's ledger rows, its document change and its outbox rows commit in one SQLite
//!   transaction (`synchronous = FULL`) before `pay` returns (I2);
//! - stock movements and loyalty entries carry their own ids and are stored once (I3, I4);
//! - transaction numbers come from the lane's persisted sequence (I5);
//! - documents are sharded and split by day; lookups use SQLite projections (I6).

pub mod auth;
pub mod cart;
pub mod catalog;
pub mod customers;
pub mod db;
pub mod demo;
pub mod docs;
pub mod env;
pub mod error;
pub mod handles;
pub mod hq;
pub mod lane;
pub mod live;
pub mod members;
#[cfg(feature = "sim")]
pub mod memlan;
#[cfg(feature = "sim")]
pub mod memnet;
pub mod merge;
pub mod outbox;
pub mod receipt;
pub mod returns;
pub mod sale;
pub mod shift;
pub mod stock;
pub mod sync;
pub mod till;
pub mod unreadable;
pub mod wire;

pub use auth::{Approval, AuthParams, NewUser, Session};
pub use env::{Clock, Env, ManualClock};
pub use error::{NodeError, Result};
pub use handles::{Priority, Replica, WriteGate};
pub use kasir_schema as schema;
pub use till::{Counts, Diagnostics, Till, TillOptions, default_store_config};

impl sync::DocAccess for Till {
    type Error = NodeError;

    fn manifest(&mut self) -> Result<Vec<(wire::DocName, wire::Digest)>> {
        self.document_manifest()
    }

    fn heads(&mut self, doc: &wire::DocName) -> Result<Vec<automerge::ChangeHash>> {
        self.document_heads(doc.as_str())
    }

    fn generate(
        &mut self,
        doc: &wire::DocName,
        state: &mut automerge::sync::State,
    ) -> Result<Option<Vec<u8>>> {
        self.generate_sync(doc.as_str(), state)
    }

    fn receive(
        &mut self,
        doc: &wire::DocName,
        state: &mut automerge::sync::State,
        message: &[u8],
    ) -> Result<bool> {
        self.receive_sync(doc.as_str(), state, message)
            .map(|o| o.changed)
    }
}

impl lane::LaneStore for Till {
    fn members(&mut self) -> Result<Vec<members::Member>> {
        self.lan_members()
    }

    fn take_changed(&mut self) -> Vec<wire::DocName> {
        self.take_changed_documents()
    }
}
