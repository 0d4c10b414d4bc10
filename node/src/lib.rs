//! kasir-node: the till engine every lane runs, with or without a screen.
//!
//! Not built yet (issues #3 and #4): the local SQLite ledger, the CRDT documents, the sans-IO
//! replication engine and its transports, leader election and HQ forwarding. What exists is the
//! dependency on `kasir-schema`, whose types and SQL this crate will drive.

pub use kasir_schema as schema;
