//! Running scenarios: one seed ([`run_one`]), many seeds on several threads ([`run_many`]),
//! and shrinking a failing one to a small reproducer ([`shrink`]).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::check::{Violation, check};
use crate::config::Config;
use crate::world::{Stats, World};

/// What one scenario left.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub seed: u64,
    pub violations: Vec<Violation>,
    pub stats: Stats,
    pub trace_hash: String,
    /// The readable event log (only when asked for).
    pub log: Option<Vec<String>>,
    /// Wall-clock time the scenario took.
    pub took: Duration,
}

impl Outcome {
    pub fn failed(&self) -> bool {
        !self.violations.is_empty()
    }
}

/// Runs one scenario: set-up, fault phase, heal, quiesce, checks.
pub fn run_one(cfg: &Config, seed: u64, keep_log: bool) -> Result<Outcome, String> {
    let started = Instant::now();
    let mut w = World::new(cfg.clone(), seed, keep_log)?;
    w.run_faults();
    w.heal_all();
    let unquiet = w.quiesce();
    w.finish_stats();
    let violations = check(&mut w, unquiet.as_deref());
    let outcome = Outcome {
        seed,
        violations,
        stats: w.stats.clone(),
        trace_hash: w.trace.hash(),
        log: w.trace.lines.take(),
        took: started.elapsed(),
    };
    w.discard();
    Ok(outcome)
}

/// Runs `count` seeds from `first` on `jobs` threads; `progress` is called after each with
/// (done, failed so far). Outcomes come back in seed order.
pub fn run_many(
    cfg: &Config,
    first: u64,
    count: u64,
    jobs: usize,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Vec<Outcome>, String> {
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let results: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());
    let error: Mutex<Option<String>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= count || error.lock().map(|e| e.is_some()).unwrap_or(true) {
                        break;
                    }
                    match run_one(cfg, first + i, false) {
                        Ok(o) => {
                            if o.failed() {
                                failed.fetch_add(1, Ordering::SeqCst);
                            }
                            if let Ok(mut r) = results.lock() {
                                r.push(o);
                            }
                        }
                        Err(e) => {
                            if let Ok(mut slot) = error.lock() {
                                *slot = Some(format!("seed {}: {e}", first + i));
                            }
                        }
                    }
                    let d = done.fetch_add(1, Ordering::SeqCst) + 1;
                    progress(d, failed.load(Ordering::SeqCst));
                }
            });
        }
    });
    if let Some(e) = error.into_inner().unwrap_or(None) {
        return Err(e);
    }
    let mut out = results.into_inner().unwrap_or_default();
    out.sort_by_key(|o| o.seed);
    Ok(out)
}

/// Shrinks a failing scenario: fewer steps, fewer faults, fewer lanes and stores, as long as
/// the same seed still fails. Returns the smallest failing configuration found and its
/// outcome (at most `budget` scenarios are tried).
pub fn shrink(cfg: &Config, seed: u64, budget: usize) -> (Config, Option<Outcome>) {
    let mut best = cfg.clone();
    let mut best_outcome = None;
    let mut tries = 0;
    let fails = |c: &Config, tries: &mut usize| -> Option<Outcome> {
        *tries += 1;
        run_one(c, seed, false).ok().filter(Outcome::failed)
    };
    loop {
        let mut shrunk = false;
        let mut candidates: Vec<Config> = Vec::new();
        if best.steps > 50 {
            let mut c = best.clone();
            c.steps /= 2;
            candidates.push(c);
        }
        for f in best.faults.iter() {
            let mut c = best.clone();
            c.faults = c.faults.without(f);
            candidates.push(c);
        }
        if best.stores > 1 {
            let mut c = best.clone();
            c.stores -= 1;
            candidates.push(c);
        }
        if best.lanes > 1 {
            let mut c = best.clone();
            c.lanes -= 1;
            candidates.push(c);
        }
        if best.steps > 50 {
            let mut c = best.clone();
            c.steps = c.steps * 3 / 4;
            candidates.push(c);
        }
        for c in candidates {
            if tries >= budget {
                return (best, best_outcome);
            }
            if let Some(o) = fails(&c, &mut tries) {
                best = c;
                best_outcome = Some(o);
                shrunk = true;
                break;
            }
        }
        if !shrunk {
            return (best, best_outcome);
        }
    }
}
