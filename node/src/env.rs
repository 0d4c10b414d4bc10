//! The production environment of the core: the system clock and the operating system's
//! randomness (the core itself reads neither; see `kasir_core::env`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use kasir_core::env::{Clock, Env, RandomSource};
use rand::RngCore;

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The operating system's randomness (through a CSPRNG the OS seeds).
#[derive(Debug, Default)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        rand::rng().fill_bytes(buf);
    }
}

/// The environment a real till runs with.
pub fn system() -> Env {
    Env::new(Arc::new(SystemClock), OsRandom)
}

/// [`kasir_core::TillOptions`] on the system environment, with the default (OWASP) PIN hashing.
pub fn till_options() -> kasir_core::TillOptions {
    kasir_core::TillOptions::new(system())
}
