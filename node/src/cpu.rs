//! A CPU core kept for the till (issue #10: a sale never waits for the network).
//!
//! On a small machine the till's thread shares the CPUs with replication and the LAN's network
//! threads. Scheduling classes alone do not keep them apart: what those threads do in the
//! kernel on a core (sending and receiving packets, finishing their I/O) runs whatever their
//! class, and a till thread waking on that core after its fsync waits for it. Measured with
//! `pay_under_load` on a 2-core machine (BENCHMARKS.md): `pay` p99 with three busy peers was
//! 6.8–9.3× idle while replication could run on every core, and 1.2–2.2× once one core was
//! kept free of it.
//!
//! So, when a node may run on two or more CPUs and its options ask for it
//! ([`crate::NodeOptions::own_core`]), its replication and network threads keep off the first
//! of them, and the till's thread always finds that core free of them. The till's thread
//! itself is not pinned there: the kernel wakes it where it sees fit, on the kept core or on
//! the core that took the disk's interrupt. Pinned (2026-11-30 to 12-01), every fsync's end
//! had to wake the kept core from the outside, and on a virtual machine whose disk interrupts
//! all go to the other core that wake took up to 3–4 ms now and then with the core idle
//! (`perf sched timehist`). `pay` p99 during a bootstrap, runs side by side: 3.35× and 3.96×
//! idle pinned, 1.04–4.81× not (within 2× in 3 of 5 runs; BENCHMARKS.md). On one CPU (or
//! elsewhere than Linux) nothing is kept. Failing to set an affinity only costs the
//! preference, never a sale.

/// The core kept for a node's till thread: the first CPU the calling thread may run on, when
/// it may run on two or more.
pub(crate) fn choose() -> Option<usize> {
    let cpus = allowed();
    (cpus.len() >= 2).then(|| cpus[0])
}

#[cfg(target_os = "linux")]
fn allowed() -> Vec<usize> {
    use nix::sched::{CpuSet, sched_getaffinity};
    use nix::unistd::Pid;
    match sched_getaffinity(Pid::from_raw(0)) {
        Ok(set) => (0..CpuSet::count())
            .filter(|&c| set.is_set(c).unwrap_or(false))
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(not(target_os = "linux"))]
fn allowed() -> Vec<usize> {
    Vec::new()
}

/// Runs the calling thread on every allowed CPU but `core`.
pub(crate) fn keep_off(core: usize) {
    let others: Vec<usize> = allowed().into_iter().filter(|&c| c != core).collect();
    if !others.is_empty() {
        set(&others);
    }
}

#[cfg(target_os = "linux")]
fn set(cpus: &[usize]) {
    use nix::sched::{CpuSet, sched_setaffinity};
    use nix::unistd::Pid;
    let mut set = CpuSet::new();
    for &c in cpus {
        if set.set(c).is_err() {
            return;
        }
    }
    let _ = sched_setaffinity(Pid::from_raw(0), &set);
}

#[cfg(not(target_os = "linux"))]
fn set(_: &[usize]) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// A thread kept off the till's core runs on the others; the caller's own CPUs are
    /// untouched.
    #[test]
    fn keeping_off_the_tills_core() {
        let cpus = allowed();
        assert!(!cpus.is_empty(), "the test thread may run somewhere");
        let Some(core) = choose() else {
            // One CPU: nothing to split (and `choose` says so).
            assert_eq!(cpus.len(), 1);
            return;
        };
        assert_eq!(core, cpus[0]);
        let off = std::thread::spawn(move || {
            keep_off(core);
            allowed()
        })
        .join()
        .unwrap();
        assert!(!off.contains(&core), "{off:?} holds the till's core {core}");
        assert_eq!(off.len(), cpus.len() - 1);
        // The test's own thread is untouched.
        assert_eq!(allowed(), cpus);
    }
}
