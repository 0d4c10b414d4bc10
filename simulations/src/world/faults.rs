//! Faults injected and healed: partitions, lossy links, HQ cut off or flaky, lanes crashed and
//! restarted from their files.

use super::*;

/// Closing `till`'s files leaves their write-ahead logs as they are (what a killed process
/// leaves; and a scenario's files are thrown away, so folding the logs in is wasted work).
pub(crate) fn no_checkpoint_on_close(till: &Till) {
    use rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE;
    for conn in [till.connection(), till.ledger_connection()] {
        let _ = conn.set_db_config(SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true);
    }
}

impl World {
    /// Throws the scenario away: its lanes close without folding their logs in.
    pub fn discard(self) {
        for st in &self.stores {
            for lane in &st.lan.lanes {
                no_checkpoint_on_close(&lane.store);
            }
        }
    }

    pub(super) fn crash(&mut self, s: usize, l: usize) {
        let code = self.stores[s].code.clone();
        // A kill -9 leaves the write-ahead log as it is: closing the files must not fold it in.
        no_checkpoint_on_close(&self.stores[s].lan.lanes[l].store);
        self.stores[s].lan.stop(l);
        let back = Duration::from_millis(self.rng.random_range(500..20_000));
        let lane = &mut self.stores[s].lanes[l];
        lane.crashed = true;
        lane.hq_told = None;
        lane.restart_at = self.now + back;
        *self.stats.faults.entry(Fault::Crash.name()).or_default() += 1;
        self.log(|| format!("{code}/{} crashed", l + 1));
    }

    pub(super) fn restart(&mut self, s: usize, l: usize) {
        let code = self.stores[s].code.clone();
        let lane = &mut self.stores[s].lanes[l];
        lane.restarts += 1;
        let seed = self.seed ^ (lane.restarts << 32) ^ (u64::from(lane.no) << 16) ^ s as u64;
        let opened = Till::open(&lane.path, options(lane.clock.clone(), seed));
        let mut till = match opened {
            Ok(t) => t,
            Err(e) => {
                // Counted by the checkers: the lane stays down, its sales unseen.
                lane.restart_at = self.now + Duration::from_secs(3600 * 24 * 365);
                self.log(|| format!("{code}/{} did not open again: {e}", l + 1));
                self.stats.refused += 1;
                return;
            }
        };
        let lane = &mut self.stores[s].lanes[l];
        if self.cfg.bug == Some(Bug::ReuseTxnNumber) {
            let _ = till.ledger_connection().execute(
                "UPDATE ledger_state SET next_seq = MAX(1, next_seq - 1) WHERE id = 1",
                [],
            );
        }
        let _ = till.login(MANAGER.0, MANAGER.1);
        let config = lane.config.clone();
        lane.crashed = false;
        self.stores[s].lan.restart(l, LaneTill::new(till), config);
        self.tell_hq(s);
        self.log(|| format!("{code}/{} restarted from its files", l + 1));
    }

    pub(super) fn inject(&mut self, s: usize) {
        let enabled: Vec<Fault> = self
            .cfg
            .faults
            .iter()
            .filter(|f| !matches!(f, Fault::Skew | Fault::LeaderKill))
            .collect();
        if enabled.is_empty() {
            return;
        }
        let f = enabled[self.rng.random_range(0..enabled.len())];
        let code = self.stores[s].code.clone();
        let n = self.stores[s].lanes.len();
        match f {
            Fault::Partition if n > 1 => {
                let kind = self.rng.random_range(0..3);
                let ids: Vec<PeerId> = self.stores[s]
                    .lanes
                    .iter()
                    .map(|x| x.node.clone())
                    .collect();
                let net = &mut self.stores[s].lan.net;
                let what = match kind {
                    0 => {
                        let cut = self.rng.random_range(1..n);
                        for a in 0..cut {
                            for b in cut..n {
                                net.partition(&ids[a], &ids[b]);
                            }
                        }
                        format!("split into lanes 1–{cut} and {}–{n}", cut + 1)
                    }
                    1 => {
                        let alone = self.rng.random_range(0..n);
                        for b in (0..n).filter(|b| *b != alone) {
                            net.partition(&ids[alone], &ids[b]);
                        }
                        format!("lane {} alone", alone + 1)
                    }
                    _ => {
                        let a = self.rng.random_range(0..n);
                        let b = (a + self.rng.random_range(1..n)) % n;
                        net.cut_one_way(&ids[a], &ids[b]);
                        format!("lane {} cannot reach lane {}", a + 1, b + 1)
                    }
                };
                self.log(|| format!("{code} partition: {what}"));
            }
            Fault::Partition => return,
            Fault::Loss => {
                self.stores[s].lan.net.config = LinkConfig::hostile();
                self.log(|| format!("{code} LAN lossy: 10% lost, 5% duplicated, 1–30 ms"));
            }
            Fault::HqCut => {
                self.stores[s].hq_cut = true;
                self.tell_hq(s);
                self.log(|| format!("{code} cut off from HQ"));
            }
            Fault::Crash => {
                let up = self.up_lanes(s);
                if up.is_empty() {
                    return;
                }
                let l = up[self.rng.random_range(0..up.len())];
                return self.crash(s, l);
            }
            Fault::HqError => {
                self.hq_flaky = true;
                self.log(|| "HQ flaky: refusing and timing out".to_string());
            }
            Fault::Skew | Fault::LeaderKill => return,
        }
        *self.stats.faults.entry(f.name()).or_default() += 1;
    }

    pub(super) fn heal_some(&mut self, s: usize) {
        let code = self.stores[s].code.clone();
        match self.rng.random_range(0..4) {
            0 => {
                self.stores[s].lan.net.heal();
                self.log(|| format!("{code} partitions healed"));
            }
            1 => {
                self.stores[s].lan.net.config = LinkConfig::lan();
                self.log(|| format!("{code} LAN clean again"));
            }
            2 => {
                if self.stores[s].hq_cut {
                    self.stores[s].hq_cut = false;
                    self.tell_hq(s);
                    self.log(|| format!("{code} reaches HQ again"));
                }
            }
            _ => {
                if self.hq_flaky {
                    self.hq_flaky = false;
                    self.log(|| "HQ healthy again".to_string());
                }
            }
        }
    }

    /// Heals every fault (partitions, lossy links, HQ cut or flaky, crashed lanes); lane
    /// clocks stay as wrong as they were.
    pub fn heal_all(&mut self) {
        self.hq_flaky = false;
        self.faulty = false;
        for s in 0..self.stores.len() {
            self.stores[s].lan.net.heal();
            self.stores[s].lan.net.config = LinkConfig::lan();
            self.stores[s].hq_cut = false;
            for l in 0..self.stores[s].lanes.len() {
                if self.stores[s].lanes[l].crashed {
                    self.restart(s, l);
                }
            }
            self.tell_hq(s);
        }
        self.log(|| "heal: every fault healed".to_string());
    }
}
