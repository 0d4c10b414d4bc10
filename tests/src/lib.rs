//! kasir-tests: end-to-end tests across crates (real iroh on loopback, real gateway, real
//! MariaDB). Shared helpers live here; the tests themselves in `tests/tests/`.
//!
//! Not built yet: the first end-to-end tests arrive with the node and the gateway.

pub use kasir_schema as schema;
