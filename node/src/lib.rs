//! kasir-node: the drivers of a lane (the iroh LAN) over the deterministic core.

pub use kasir_core::*;

pub mod env;
pub mod lan;
