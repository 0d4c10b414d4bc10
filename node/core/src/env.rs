//! Everything that varies between two runs of the same scenario enters the core here: the
//! wall-clock time stamped on records, and randomness (record ids, Automerge actor ids, PIN
//! salts, enrollment secrets). Monotonic time for timers is not here: the sans-IO parts take
//! `now` as an argument of every call.
//!
//! The core never reads a clock or the operating system's entropy itself (`clippy.toml` of
//! this crate forbids the calls). Production passes the system clock and OS randomness
//! (`kasir_node::env::system`); tests and the simulator pass a [`ManualClock`] and a
//! [`SeededRandom`], and the same seed then gives byte-identical documents.

use std::fmt;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use uuid::Uuid;

/// Where the engine reads the time stamped on records.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// Where the engine takes random bytes.
pub trait RandomSource: Send + fmt::Debug {
    fn fill(&mut self, buf: &mut [u8]);
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Arc<ManualClock> {
        Arc::new(ManualClock(Mutex::new(start)))
    }

    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += by;
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A clock that shows another clock's time shifted by a fixed amount (a lane whose clock is
/// wrong, in the simulator).
#[derive(Debug)]
pub struct SkewedClock {
    pub inner: Arc<dyn Clock>,
    pub skew: Duration,
}

impl Clock for SkewedClock {
    fn now(&self) -> DateTime<Utc> {
        self.inner.now() + self.skew
    }
}

/// A generator seeded by the caller: the same seed gives the same bytes.
#[derive(Debug)]
pub struct SeededRandom(StdRng);

impl SeededRandom {
    pub fn new(seed: u64) -> SeededRandom {
        SeededRandom(StdRng::seed_from_u64(seed))
    }
}

impl RandomSource for SeededRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        self.0.fill_bytes(buf);
    }
}

/// The clock and the randomness a till (or anything else of the core) runs with. Cloning
/// shares both.
#[derive(Debug, Clone)]
pub struct Env {
    clock: Arc<dyn Clock>,
    random: Arc<Mutex<dyn RandomSource>>,
}

impl Env {
    pub fn new(clock: Arc<dyn Clock>, random: impl RandomSource + 'static) -> Env {
        Env {
            clock,
            random: Arc::new(Mutex::new(random)),
        }
    }

    /// `clock` with a generator seeded by `seed` (tests, the simulator).
    pub fn seeded(clock: Arc<dyn Clock>, seed: u64) -> Env {
        Env::new(clock, SeededRandom::new(seed))
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn fill_random(&self, buf: &mut [u8]) {
        self.random
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .fill(buf);
    }

    pub fn random_bytes<const N: usize>(&self) -> [u8; N] {
        let mut b = [0u8; N];
        self.fill_random(&mut b);
        b
    }

    /// A new record id: a UUID v7 (time-ordered) from this environment's clock and randomness.
    pub fn new_id(&self) -> Uuid {
        let millis = u64::try_from(self.now().timestamp_millis()).unwrap_or(0);
        uuid::Builder::from_unix_timestamp_millis(millis, &self.random_bytes::<10>()).into_uuid()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn the_manual_clock_moves_only_when_told() {
        let c = ManualClock::new(start());
        let t0 = c.now();
        assert_eq!(c.now(), t0);
        c.advance(Duration::seconds(90));
        assert_eq!(c.now() - t0, Duration::seconds(90));
    }

    #[test]
    fn the_same_seed_gives_the_same_ids_and_another_seed_others() {
        let ids = |seed| {
            let env = Env::seeded(ManualClock::new(start()), seed);
            (0..5).map(|_| env.new_id()).collect::<Vec<_>>()
        };
        assert_eq!(ids(7), ids(7));
        assert_ne!(ids(7), ids(8));
        let id = ids(7)[0];
        assert_eq!(id.get_version_num(), 7);
        // The time part is the clock's.
        let (secs, _) = id.get_timestamp().unwrap().to_unix();
        assert_eq!(i64::try_from(secs).unwrap(), start().timestamp());
    }

    #[test]
    fn a_skewed_clock_is_off_by_its_skew() {
        let base = ManualClock::new(start());
        let skewed = SkewedClock {
            inner: base.clone(),
            skew: Duration::hours(-3),
        };
        assert_eq!(base.now() - skewed.now(), Duration::hours(3));
    }
}
