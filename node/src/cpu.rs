//! A CPU core of its own for the till (issue #10: a sale never waits for the network).
//!
//! Replication and the LAN's network threads run in the idle scheduling class, so the till's
//! thread preempts them the moment it wakes. That is not enough on a small machine: what they
//! do in the kernel on the till's core (sending and receiving packets, finishing their I/O)
//! runs whatever the class, and the till's thread waits for it after every fsync. Measured
//! with `pay_under_load` on a 2-core machine (BENCHMARKS.md): `pay` p99 with three busy peers
//! was 6.8–9.3× idle while replication could run on every core, and 1.2–2.2× once the till's
//! thread had a core to itself.
//!
//! So, when a node may run on two or more CPUs and its options ask for it
//! ([`crate::NodeOptions::own_core`]), its till thread is pinned to the first of them and its
//! replication and network threads to the others. On one CPU (or elsewhere than Linux) nothing
//! is pinned. Failing to pin only costs the preference, never a sale.

/// The core a node's till thread takes: the first CPU the calling thread may run on, when it
/// may run on two or more.
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

/// Runs the calling thread on `core` only.
pub(crate) fn pin_to(core: usize) {
    set(&[core]);
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

    /// A thread kept off the till's core runs on the others; one pinned runs there only.
    #[test]
    fn pinning_and_keeping_off() {
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
        let on = std::thread::spawn(move || {
            pin_to(core);
            allowed()
        })
        .join()
        .unwrap();
        assert_eq!(on, vec![core]);
        // The test's own thread is untouched.
        assert_eq!(allowed(), cpus);
    }
}
