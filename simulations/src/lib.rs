//! kasir-sim: deterministic partition simulations driving real node engines over a simulated
//! network.
//!
//! Not built yet: it needs the sans-IO replication engine (issue #4).

pub use kasir_schema as schema;
