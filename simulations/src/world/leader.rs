//! The store leader's round trip to HQ (download, then upload), with HQ's faults: refusing,
//! timing out after storing, the leader killed after HQ stored its batch.

use super::*;

impl World {
    /// What HQ would answer if it stored every record (the broken leader's own answer).
    pub(super) fn all_stored(batch: &HqBatch) -> Processed {
        let ok = |ids: Vec<String>| {
            let mut c = ProcessedCounts::default();
            for id in ids {
                c.success += 1;
                c.results.push(RecordResult {
                    id,
                    status: RecordStatus::Stored,
                });
            }
            c
        };
        let d = &batch.request.data;
        let store = kasir_core::schema::txn_number::StoreCode::new(&batch.request.store_id).ok();
        Processed {
            transactions: ok(d
                .transactions
                .iter()
                .filter_map(|t| store.as_ref().map(|s| t.id(s).0.to_string()))
                .collect()),
            customers: ok(d
                .customers
                .iter()
                .map(|c| c.customer_uuid.0.to_string())
                .collect()),
            stock_movements: Some(ok(d
                .stock_movements
                .iter()
                .map(|m| m.movement_id.0.to_string())
                .collect())),
            loyalty_entries: Some(ok(d
                .loyalty_entries
                .iter()
                .map(|e| e.entry_id.0.to_string())
                .collect())),
            shift_reports: Some(ok(d
                .shift_reports
                .iter()
                .map(|r| r.shift_id.0.to_string())
                .collect())),
        }
    }

    /// Each lane of store `s` that leads does its round trip to HQ: download, then upload.
    /// Returns whether any lane led.
    pub fn hq_round(&mut self, s: usize) -> bool {
        if self.stores[s].hq_cut {
            return false;
        }
        let leaders: Vec<usize> = self
            .up_lanes(s)
            .into_iter()
            .filter(|l| self.stores[s].lan.lanes[*l].core.is_leader())
            .collect();
        for &l in &leaders {
            self.leader_round(s, l);
        }
        !leaders.is_empty()
    }

    pub(super) fn hq_fails(&mut self, p: f64) -> bool {
        self.hq_flaky && self.rng.random_bool(p)
    }

    pub(super) fn leader_round(&mut self, s: usize, l: usize) {
        let code = self.stores[s].code.clone();
        self.stats.hq_calls += 1;
        // Download.
        if self.hq_fails(0.2) {
            self.log(|| format!("{code}/{} download: HQ answered 503", l + 1));
        } else {
            let cursor = match self.till(s, l).hq_cursor() {
                Ok(c) => c,
                Err(e) => return self.refused(s, l, "cursor", e),
            };
            let (data, next) = self.hq.download(&code, cursor.as_deref());
            if self.hq_fails(0.1) {
                self.log(|| format!("{code}/{} download: timed out", l + 1));
            } else if let Err(e) = self.till(s, l).hq_apply_download(&data, &next) {
                self.refused(s, l, "download", e);
            }
        }
        // Upload.
        let batch = match self.till(s, l).hq_batch(BATCH) {
            Ok(Some(b)) => b,
            Ok(None) => {
                self.stores[s].lan.local_change(l);
                return;
            }
            Err(e) => return self.refused(s, l, "batch", e),
        };
        let n = batch.records();
        if self.cfg.bug == Some(Bug::ConfirmBeforeHq) {
            let fake = Self::all_stored(&batch);
            let _ = self.till(s, l).hq_confirm(&batch, &fake);
        }
        if self.hq_fails(0.15) {
            self.log(|| format!("{code}/{} upload of {n}: HQ answered 503", l + 1));
        } else {
            let answer = self.hq.ingest(&batch.request);
            let kill = self.faulty
                && self.cfg.faults.has(Fault::LeaderKill)
                && self.rng.random_ratio(1, 12);
            if kill {
                self.log(|| format!("{code}/{} upload of {n} stored; leader killed", l + 1));
                *self
                    .stats
                    .faults
                    .entry(Fault::LeaderKill.name())
                    .or_default() += 1;
                self.crash(s, l);
                return;
            }
            if self.hq_fails(0.1) {
                self.log(|| format!("{code}/{} upload of {n} stored; answer lost", l + 1));
            } else if let Err(e) = self.till(s, l).hq_confirm(&batch, &answer) {
                self.refused(s, l, "confirm", e);
            } else {
                self.log(|| format!("{code}/{} upload of {n} confirmed", l + 1));
            }
        }
        self.stores[s].lan.local_change(l);
    }
}
