//! kasir-sim: deterministic chaos over the real engine.
//!
//! N stores × M lanes plus HQ. Every lane is the real core — the till engine on its own SQLite
//! files, the sans-IO lane core with its sync engine and leader election — over an in-memory
//! store LAN (`kasir_core::memlan`); HQ is a model of the gateway's ingest and download
//! ([`hq`]), held against the real gateway by `tests/tests/sim_hq_model.rs`. One seeded
//! scheduler over virtual time drives the workload and the faults ([`world`]); no thread, no
//! socket, no wall clock. One seed gives one event trace, whose hash a run prints.
//!
//! After heal and quiesce the checkers ([`check`]) hold every lane and HQ against what the
//! acknowledged operations say: I1 convergence, I2 every acknowledged sale at HQ exactly once,
//! I3 stock and I4 loyalty conservation, I5 unique transaction numbers. Deliberate bugs
//! ([`config::Bug`]) show that each checker can fail.

pub mod check;
pub mod config;
pub mod hq;
pub mod report;
pub mod run;
pub mod trace;
pub mod world;

pub use check::{Invariant, Violation};
pub use config::{Bug, Config, Fault, Faults};
pub use kasir_core::schema::Decimal;
pub use run::{Outcome, run_many, run_one, shrink};
