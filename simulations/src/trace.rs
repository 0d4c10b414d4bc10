//! The event trace of one scenario: a hash over everything that happened (actions, faults, HQ
//! calls, and the state of every network after each delivery), and, when asked, a readable log
//! of the actions. One seed gives one trace.

use std::time::Duration;

use sha2::{Digest, Sha256};

#[derive(Debug)]
pub struct Trace {
    hasher: Sha256,
    /// The readable log, kept only for `replay`.
    pub lines: Option<Vec<String>>,
}

impl Trace {
    pub fn new(keep_log: bool) -> Trace {
        Trace {
            hasher: Sha256::new(),
            lines: keep_log.then(Vec::new),
        }
    }

    /// A readable event at virtual time `at`.
    pub fn log(&mut self, at: Duration, text: &str) {
        let line = format!("[{:>6}.{:03}s] {text}", at.as_secs(), at.subsec_millis());
        self.hasher.update(line.as_bytes());
        self.hasher.update(b"\n");
        if let Some(lines) = &mut self.lines {
            lines.push(line);
        }
    }

    /// A machine event (a packet delivered, a timer): hashed, not logged.
    pub fn tick(&mut self, parts: &[u64]) {
        for p in parts {
            self.hasher.update(p.to_le_bytes());
        }
    }

    /// The trace's hash so far (hex, 16 characters: enough to tell two traces apart).
    pub fn hash(&self) -> String {
        let h = self.hasher.clone().finalize();
        h.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}
