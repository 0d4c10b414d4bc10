//! kasir-gateway: the HQ REST API (axum) over MySQL/MariaDB, with SQLite as embedded default.
//!
//! Not built yet (issue #5). Its request and response bodies are already defined in
//! `kasir_schema::wire`, its MySQL schema in `schema/sql/hq/`.

pub use kasir_schema as schema;
