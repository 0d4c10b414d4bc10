//! What one scenario is: its size, the faults it may inject, and (for the checkers' own tests)
//! a deliberate bug.

use std::fmt;
use std::str::FromStr;

/// A class of fault the scheduler may inject during the fault phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// Partitions of a store's LAN: random halves, one lane alone, one-way links.
    Partition,
    /// Lossy links: loss, duplication, reordering and delay of every message.
    Loss,
    /// The store cut off from HQ.
    HqCut,
    /// A lane crashing and restarting from its files, also between a sale's durable commit and
    /// its projections (what a kill -9 leaves).
    Crash,
    /// The leader killed after HQ stored its upload and before it heard the answer.
    LeaderKill,
    /// HQ refusing a request (503) or timing out after it stored it.
    HqError,
    /// Lane clocks wrong by minutes to a day.
    Skew,
}

impl Fault {
    pub const ALL: [Fault; 7] = [
        Fault::Partition,
        Fault::Loss,
        Fault::HqCut,
        Fault::Crash,
        Fault::LeaderKill,
        Fault::HqError,
        Fault::Skew,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Partition => "partition",
            Fault::Loss => "loss",
            Fault::HqCut => "hq-cut",
            Fault::Crash => "crash",
            Fault::LeaderKill => "leader-kill",
            Fault::HqError => "hq-error",
            Fault::Skew => "skew",
        }
    }
}

/// A set of faults, written `all`, `none` or a comma-separated list of names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Faults(u8);

impl Faults {
    pub fn all() -> Faults {
        Fault::ALL.iter().fold(Faults(0), |f, x| f.with(*x))
    }

    pub fn none() -> Faults {
        Faults(0)
    }

    fn bit(f: Fault) -> u8 {
        1 << (Fault::ALL.iter().position(|x| *x == f).unwrap_or(0))
    }

    pub fn with(self, f: Fault) -> Faults {
        Faults(self.0 | Self::bit(f))
    }

    pub fn without(self, f: Fault) -> Faults {
        Faults(self.0 & !Self::bit(f))
    }

    pub fn has(self, f: Fault) -> bool {
        self.0 & Self::bit(f) != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Fault> {
        Fault::ALL.into_iter().filter(move |f| self.has(*f))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Faults::all() {
            return f.write_str("all");
        }
        if self.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<&str> = self.iter().map(Fault::name).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for Faults {
    type Err = String;

    fn from_str(s: &str) -> Result<Faults, String> {
        match s.trim() {
            "all" => return Ok(Faults::all()),
            "none" | "" => return Ok(Faults::none()),
            _ => {}
        }
        let mut out = Faults::none();
        for part in s.split(',') {
            let part = part.trim();
            let f = Fault::ALL
                .into_iter()
                .find(|f| f.name() == part)
                .ok_or_else(|| {
                    let known: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
                    format!(
                        "unknown fault {part:?}: use all, none or some of {}",
                        known.join(", ")
                    )
                })?;
            out = out.with(f);
        }
        Ok(out)
    }
}

/// A deliberate bug, for showing that the checkers catch what they are there to catch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bug {
    /// HQ hands out its adjustments under a new id each time it sends them, so a lane applies
    /// one sent twice twice (I3).
    HqAdjustmentWithoutId,
    /// Every replication message carrying document changes is dropped for good (I1, I2).
    DropSyncMessages,
    /// The leader marks its batch as confirmed before HQ answered (I2).
    ConfirmBeforeHq,
    /// A lane that crashed forgets the last transaction number it issued (I5).
    ReuseTxnNumber,
}

impl Bug {
    pub const ALL: [Bug; 4] = [
        Bug::HqAdjustmentWithoutId,
        Bug::DropSyncMessages,
        Bug::ConfirmBeforeHq,
        Bug::ReuseTxnNumber,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bug::HqAdjustmentWithoutId => "hq-adjustment-without-id",
            Bug::DropSyncMessages => "drop-sync-messages",
            Bug::ConfirmBeforeHq => "confirm-before-hq",
            Bug::ReuseTxnNumber => "reuse-txn-number",
        }
    }
}

impl FromStr for Bug {
    type Err = String;

    fn from_str(s: &str) -> Result<Bug, String> {
        Bug::ALL
            .into_iter()
            .find(|b| b.name() == s.trim())
            .ok_or_else(|| {
                let known: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
                format!("unknown bug {s:?}: one of {}", known.join(", "))
            })
    }
}

/// The size and shape of one scenario (its seed is given beside it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Config {
    pub stores: u16,
    pub lanes: u16,
    /// Scheduler steps of the fault phase (each: one action, then time moves on).
    pub steps: u32,
    pub faults: Faults,
    pub bug: Option<Bug>,
    /// Products in the chain's catalog.
    pub products: u16,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            stores: 3,
            lanes: 4,
            steps: 10_000,
            faults: Faults::all(),
            bug: None,
            products: 40,
        }
    }
}

impl Config {
    /// Checks the sizes before anything is built.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=20).contains(&self.stores) {
            return Err(format!("--stores {}: 1 to 20", self.stores));
        }
        if !(1..=12).contains(&self.lanes) {
            return Err(format!("--lanes {}: 1 to 12", self.lanes));
        }
        if self.steps > 10_000_000 {
            return Err(format!("--steps {}: at most 10,000,000", self.steps));
        }
        if !(2..=5_000).contains(&self.products) {
            return Err(format!("--products {}: 2 to 5,000", self.products));
        }
        Ok(())
    }

    /// The flags that give this configuration on the command line.
    pub fn flags(&self) -> String {
        let mut s = format!(
            "--stores {} --lanes {} --steps {} --faults {}",
            self.stores, self.lanes, self.steps, self.faults
        );
        if self.products != Config::default().products {
            s.push_str(&format!(" --products {}", self.products));
        }
        if let Some(b) = self.bug {
            s.push_str(&format!(" --bug {}", b.name()));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_sets_read_back_what_they_print() {
        for text in ["all", "none", "partition,crash", "skew"] {
            let f: Faults = text.parse().unwrap();
            assert_eq!(f.to_string(), text);
        }
        assert!(
            "partition,fire"
                .parse::<Faults>()
                .unwrap_err()
                .contains("fire")
        );
        assert!(!Faults::all().without(Fault::Crash).has(Fault::Crash));
    }
}
