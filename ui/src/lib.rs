//! kasir-ui: the egui till app (`kasir-till`), screens over the node's view-model API.
//!
//! Not built yet: it follows the till engine (issue #3).

pub use kasir_schema as schema;
