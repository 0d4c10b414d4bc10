//! The simulated chain: stores of lanes running the real core over in-memory LANs, HQ (the
//! model), one seeded scheduler over virtual time, the workload and the faults.
//!
//! A scenario runs in three phases: **set-up** (each store's lanes set up, lane 1 with the
//! catalog and opening stock, a shift open on every lane, the LAN settled); **faults** (`steps`
//! scheduler events: a packet delivered, a timer, or an action — a sale, a return, HQ editing
//! something, a leader's round trip to HQ, a fault injected or healed — whichever is due first
//! in virtual time); **heal and quiesce** (every fault healed, crashed lanes restarted, then
//! time runs until every store's lanes agree, every outbox is empty at HQ and every download
//! is applied). The checkers (`check.rs`) then read the result.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use kasir_core::customers::NewCustomer;
use kasir_core::env::SkewedClock;
use kasir_core::hq::HqBatch;
use kasir_core::lane::LaneConfig;
use kasir_core::memlan::{MemLan, Packet};
use kasir_core::memnet::LinkConfig;
use kasir_core::returns::ReturnItem;
use kasir_core::schema::Decimal;
use kasir_core::schema::checkout::Discount;
use kasir_core::schema::domain::{Product, SaleUnit};
use kasir_core::schema::payment::{PaymentMethod, Tender};
use kasir_core::schema::roles::Role;
use kasir_core::schema::txn_number::LaneNo;
use kasir_core::schema::wire::{Processed, ProcessedCounts, RecordResult, RecordStatus};
use kasir_core::sync::PeerId;
use kasir_core::{
    AuthParams, Clock, Env, ManualClock, NewUser, Till, TillOptions, default_store_config,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use crate::config::{Bug, Config, Fault};
use crate::hq::HqModel;
use crate::trace::Trace;

const MANAGER: (&str, &str) = ("maya", "9999");
/// Virtual time between two workload actions, on average (over the whole chain).
const ACTION_EVERY_MS: u64 = 150;
/// How long quiescing may take before the scenario counts as not converged.
pub const QUIESCE_LIMIT: Duration = Duration::from_secs(1800);
/// Records per upload.
const BATCH: usize = 200;

/// What actually happened, as the acknowledged operations say: the oracle the checkers hold
/// the lanes and HQ against.
#[derive(Debug, Default)]
pub struct Truth {
    /// (store, SKU) → stock.
    pub stock: BTreeMap<(String, String), Decimal>,
    /// Customer → (home store, points).
    pub points: BTreeMap<Uuid, (String, i64)>,
    /// Sale id → (store, number) of every sale a lane acknowledged.
    pub sales: BTreeMap<Uuid, (String, String)>,
    /// Every number a lane handed out for a sale or a return, with the record's id.
    pub numbers: Vec<(String, Uuid)>,
    /// Acknowledged sales per store (numbers), for returns.
    sale_numbers: BTreeMap<String, Vec<String>>,
    /// Customers per home store.
    customers: BTreeMap<String, Vec<Uuid>>,
}

impl Truth {
    fn add_stock(&mut self, store: &str, sku: &str, q: Decimal) {
        *self
            .stock
            .entry((store.to_string(), sku.to_string()))
            .or_default() += q;
    }

    fn add_points(&mut self, customer: Uuid, points: i64) {
        if let Some(e) = self.points.get_mut(&customer) {
            e.1 += points;
        }
    }
}

/// What a scenario counts besides the invariants.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub sales: u64,
    pub returns: u64,
    /// Operations the engine refused (a product not yet known on this lane, a return of a
    /// sale it has not seen): normal under partitions.
    pub refused: u64,
    pub faults: BTreeMap<&'static str, u64>,
    pub hq_calls: u64,
    pub messages: u64,
    pub bytes: u64,
    /// Units sold beyond the stock, summed over products and stores, at the end.
    pub oversold_units: Decimal,
    /// From heal to quiet.
    pub converge: Duration,
    pub steps: u64,
}

/// One lane of a store.
#[derive(Debug)]
pub struct Lane {
    pub path: PathBuf,
    pub node: PeerId,
    pub no: u32,
    clock: Arc<dyn Clock>,
    restarts: u64,
    pub crashed: bool,
    restart_at: Duration,
    hq_told: Option<bool>,
    config: LaneConfig,
}

/// One store: its lanes on their LAN.
#[derive(Debug)]
pub struct Store {
    pub code: String,
    pub lan: MemLan<Till>,
    pub lanes: Vec<Lane>,
    hq_cut: bool,
}

/// The whole chain.
#[derive(Debug)]
pub struct World {
    pub cfg: Config,
    pub seed: u64,
    rng: StdRng,
    base: Arc<ManualClock>,
    start: DateTime<Utc>,
    now: Duration,
    next_action: Duration,
    pub stores: Vec<Store>,
    pub hq: HqModel,
    pub truth: Truth,
    pub trace: Trace,
    pub stats: Stats,
    catalog: Vec<Product>,
    hq_flaky: bool,
    /// Faults may be injected (the fault phase); off from heal on.
    faulty: bool,
    phone: u64,
    _dir: tempfile::TempDir,
}

/// A node id for lane `l` of store `s` (64 hex characters, as iroh's are).
fn node(s: usize, l: usize) -> PeerId {
    PeerId(format!("{:02x}{:02x}", s + 1, l + 1).repeat(16))
}

fn store_code(s: usize) -> String {
    const CITIES: [&str; 8] = ["JKT", "BDG", "SBY", "MDN", "SMG", "MKS", "DPS", "PLG"];
    format!("{}{:02}", CITIES[s % CITIES.len()], s / CITIES.len() + 1)
}

fn options(clock: Arc<dyn Clock>, seed: u64) -> TillOptions {
    TillOptions {
        env: Env::seeded(clock, seed),
        auth: AuthParams::fast_for_tests(),
    }
}

/// Where scenario files go: memory when the machine has it (`/dev/shm`), else the temp dir.
fn scratch() -> std::io::Result<tempfile::TempDir> {
    let shm = std::path::Path::new("/dev/shm");
    let b = tempfile::Builder::new()
        .prefix("kasir-sim-")
        .tempdir_in(shm);
    match b {
        Ok(d) => Ok(d),
        Err(_) => tempfile::Builder::new().prefix("kasir-sim-").tempdir(),
    }
}

fn is_sync_frame(p: &Packet) -> bool {
    // `WireMessage::Sync` is tag 2 (`kasir_core::wire`).
    matches!(p, Packet::Frame(b) if b.first() == Some(&2))
}

type Res<T> = std::result::Result<T, String>;

impl World {
    /// Builds the chain for one scenario.
    pub fn new(cfg: Config, seed: u64, keep_log: bool) -> Res<World> {
        cfg.validate()?;
        let dir = scratch().map_err(|e| format!("scratch directory: {e}"))?;
        let start = Utc
            .with_ymd_and_hms(2026, 11, 23, 2, 0, 0)
            .single()
            .ok_or("start time")?;
        let base = ManualClock::new(start);
        let mut rng = StdRng::seed_from_u64(seed);
        let catalog = kasir_core::demo::products(usize::from(cfg.products), 7);
        let mut hq = HqModel::new(&catalog, rng.random());
        hq.movements_without_id = cfg.bug == Some(Bug::HqAdjustmentWithoutId);
        let mut w = World {
            cfg: cfg.clone(),
            seed,
            rng,
            base,
            start,
            now: Duration::ZERO,
            next_action: Duration::ZERO,
            stores: Vec::new(),
            hq,
            truth: Truth::default(),
            trace: Trace::new(keep_log),
            stats: Stats::default(),
            catalog,
            hq_flaky: false,
            faulty: true,
            phone: 0,
            _dir: dir,
        };
        for s in 0..usize::from(cfg.stores) {
            w.add_store(s)?;
        }
        // Set-up: the catalog and users spread over each store's LAN.
        let until = w.now + Duration::from_secs(30);
        w.run_networks(until);
        w.next_action = w.now;
        for s in 0..w.stores.len() {
            if w.cfg.bug == Some(Bug::DropSyncMessages) {
                w.stores[s].lan.net.drop_if = Some(is_sync_frame);
            }
        }
        Ok(w)
    }

    fn add_store(&mut self, s: usize) -> Res<()> {
        let code = store_code(s);
        let mut lan = MemLan::new(self.rng.random(), LinkConfig::lan());
        let mut lanes = Vec::new();
        let members: std::collections::BTreeSet<PeerId> = (0..usize::from(self.cfg.lanes))
            .map(|l| node(s, l))
            .collect();
        for l in 0..usize::from(self.cfg.lanes) {
            let skew = if self.cfg.faults.has(Fault::Skew) && self.rng.random_bool(0.5) {
                // Minutes to a day, either way.
                let mins = self.rng.random_range(1..=1440_i64);
                let sign = if self.rng.random_bool(0.5) { 1 } else { -1 };
                chrono::Duration::minutes(sign * mins)
            } else {
                chrono::Duration::zero()
            };
            if !skew.is_zero() {
                *self.stats.faults.entry(Fault::Skew.name()).or_default() += 1;
            }
            let clock: Arc<dyn Clock> = Arc::new(SkewedClock {
                inner: self.base.clone(),
                skew,
            });
            let path = self._dir.path().join(format!("{code}-lane{}.db", l + 1));
            let no = u32::try_from(l + 1).map_err(|e| e.to_string())?;
            let mut till = Till::open(&path, options(clock.clone(), self.rng.random()))
                .map_err(|e| format!("open {code} lane {no}: {e}"))?;
            let config =
                default_store_config(&code, &format!("Toko {code}")).map_err(|e| e.to_string())?;
            till.set_up(
                config,
                LaneNo::new(no).map_err(|e| e.to_string())?,
                NewUser {
                    username: MANAGER.0.into(),
                    full_name: "Maya Manager".into(),
                    role: Role::Manager,
                    pin: MANAGER.1.into(),
                },
            )
            .map_err(|e| format!("set up {code} lane {no}: {e}"))?;
            till.enroll_self(&node(s, l).0).map_err(|e| e.to_string())?;
            till.login(MANAGER.0, MANAGER.1)
                .map_err(|e| e.to_string())?;
            if l == 0 {
                till.import_products(&self.catalog)
                    .map_err(|e| e.to_string())?;
                for p in &self.catalog {
                    let q = Decimal::from(self.rng.random_range(20..60_i64));
                    till.receive_stock(&p.sku, q, Some("opening stock".into()), None)
                        .map_err(|e| e.to_string())?;
                    self.truth.add_stock(&code, &p.sku, q);
                }
            }
            till.open_shift(Decimal::from(500_000))
                .map_err(|e| e.to_string())?;
            let mut config = LaneConfig::new(node(s, l));
            config.static_members = members.clone();
            if l > 0 {
                config.static_peers = vec![(node(s, 0), vec![MemLan::<Till>::addr_of(0)])];
            }
            lan.add(till, config.clone());
            lan.local_change(l);
            lanes.push(Lane {
                path,
                node: node(s, l),
                no,
                clock,
                restarts: 0,
                crashed: false,
                restart_at: Duration::ZERO,
                hq_told: None,
                config,
            });
        }
        self.stores.push(Store {
            code,
            lan,
            lanes,
            hq_cut: false,
        });
        self.tell_hq(s);
        Ok(())
    }

    pub fn now(&self) -> Duration {
        self.now
    }

    fn set_clock(&mut self, t: Duration) {
        self.now = t;
        let d = chrono::Duration::from_std(t).unwrap_or_default();
        self.base.set(self.start + d);
    }

    fn log(&mut self, text: impl FnOnce() -> String) {
        let at = self.now;
        let line = text();
        self.trace.log(at, &line);
    }

    /// Tells each lane whether it can reach HQ (when that changed).
    fn tell_hq(&mut self, s: usize) {
        let reachable = !self.stores[s].hq_cut;
        for l in 0..self.stores[s].lanes.len() {
            let st = &mut self.stores[s];
            if st.lanes[l].crashed || st.lanes[l].hq_told == Some(reachable) {
                continue;
            }
            st.lanes[l].hq_told = Some(reachable);
            st.lan.input(l, kasir_core::lane::Input::Hq { reachable });
        }
    }

    /// Runs every store's network up to `until`, one event at a time (each a step).
    fn run_networks(&mut self, until: Duration) {
        loop {
            let next = self
                .stores
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.lan.next_event().map(|t| (t, i)))
                .min();
            match next {
                Some((t, s)) if t <= until => {
                    self.set_clock(t.max(self.now));
                    let lan = &mut self.stores[s].lan;
                    lan.step_until(t);
                    self.stats.steps += 1;
                    self.trace.tick(&[
                        s as u64,
                        u64::try_from(t.as_micros()).unwrap_or(u64::MAX),
                        lan.net.delivered,
                        lan.net.sent,
                    ]);
                }
                _ => break,
            }
        }
        for st in &mut self.stores {
            st.lan.run_until(until);
        }
        self.set_clock(until.max(self.now));
    }

    /// The fault phase: `steps` scheduler events.
    pub fn run_faults(&mut self) {
        let target = self.stats.steps + u64::from(self.cfg.steps);
        while self.stats.steps < target {
            let next_net = self.stores.iter().filter_map(|s| s.lan.next_event()).min();
            if next_net.is_some_and(|t| t < self.next_action) {
                let t = next_net.unwrap_or(self.next_action);
                let before = self.stats.steps;
                self.run_networks(t);
                if self.stats.steps == before {
                    self.stats.steps += 1;
                }
                continue;
            }
            let t = self.next_action;
            self.run_networks(t);
            self.action();
            self.stats.steps += 1;
            let gap = self.rng.random_range(1..=2 * ACTION_EVERY_MS);
            self.next_action = self.now + Duration::from_millis(gap);
        }
    }

    fn up_lanes(&self, s: usize) -> Vec<usize> {
        (0..self.stores[s].lanes.len())
            .filter(|l| !self.stores[s].lanes[*l].crashed)
            .collect()
    }

    fn action(&mut self) {
        // Crashed lanes come back when their time has come.
        for s in 0..self.stores.len() {
            for l in 0..self.stores[s].lanes.len() {
                let lane = &self.stores[s].lanes[l];
                if lane.crashed && lane.restart_at <= self.now {
                    self.restart(s, l);
                }
            }
        }
        let s = self.rng.random_range(0..self.stores.len());
        let roll = self.rng.random_range(0..100);
        let faults = !self.cfg.faults.is_empty();
        match roll {
            0..=44 => self.on_lane(s, Self::sale),
            45..=49 => self.on_lane(s, Self::refund),
            50..=51 => self.on_lane(s, Self::shift_change),
            52..=55 => self.on_lane(s, Self::sign_up),
            56..=57 => self.on_lane(s, Self::receive),
            58..=59 => self.hq_price(),
            60..=62 => self.hq_stock(s),
            63 => self.hq_customer_edit(),
            64..=79 => {
                self.hq_round(s);
            }
            80..=89 if faults => self.inject(s),
            90..=94 if faults => self.heal_some(s),
            _ => {}
        }
    }

    fn on_lane(&mut self, s: usize, f: fn(&mut World, usize, usize)) {
        let up = self.up_lanes(s);
        if up.is_empty() {
            return;
        }
        let l = up[self.rng.random_range(0..up.len())];
        f(self, s, l);
        self.stores[s].lan.local_change(l);
    }

    fn till(&mut self, s: usize, l: usize) -> &mut Till {
        &mut self.stores[s].lan.lanes[l].store
    }

    fn refused(&mut self, s: usize, l: usize, what: &str, e: impl std::fmt::Display) {
        self.stats.refused += 1;
        let code = self.stores[s].code.clone();
        self.log(|| format!("{code}/{} {what} refused: {e}", l + 1));
    }

    fn sale(&mut self, s: usize, l: usize) {
        let code = self.stores[s].code.clone();
        let n_lines = self.rng.random_range(1..=5);
        for _ in 0..n_lines {
            let p = self.catalog[self.rng.random_range(0..self.catalog.len())].clone();
            let q = if p.unit == SaleUnit::Kilogram {
                Decimal::new(self.rng.random_range(100..2500), 3)
            } else {
                Decimal::from(self.rng.random_range(1..=3_i64))
            };
            if let Err(e) = self.till(s, l).add_sku(&p.sku, q) {
                self.refused(s, l, "scan", e);
            }
        }
        if self.till(s, l).cart().is_empty() {
            return;
        }
        if self.rng.random_bool(0.15) {
            let pct = Decimal::from(self.rng.random_range(1..=20_i64));
            let _ = self
                .till(s, l)
                .set_line_discount(0, Some(Discount::Percent(pct)), None);
        }
        let known = self.truth.customers.get(&code).cloned().unwrap_or_default();
        if !known.is_empty() && self.rng.random_bool(0.35) {
            let c = known[self.rng.random_range(0..known.len())];
            if self
                .till(s, l)
                .attach_customer(kasir_core::schema::domain::CustomerId(c))
                .is_ok()
            {
                let points = self
                    .till(s, l)
                    .customer(kasir_core::schema::domain::CustomerId(c))
                    .ok()
                    .flatten()
                    .map_or(0, |v| v.points);
                if points >= 10 && self.rng.random_bool(0.4) {
                    let r = self.rng.random_range(1..=points.min(40));
                    let _ = self.till(s, l).redeem_points(r);
                }
            }
        }
        let due = match self.till(s, l).cart_totals() {
            Ok(t) => t.total_amount,
            Err(e) => {
                self.refused(s, l, "totals", e);
                let _ = self.till(s, l).void_cart(None);
                return;
            }
        };
        let cash_over = Decimal::from(self.rng.random_range(0..5_i64) * 10_000 + 100_000);
        let tenders = match self.rng.random_range(0..4) {
            0 | 1 => vec![Tender::cash(due + cash_over)],
            2 => {
                let mut card = Tender::new(PaymentMethod::Card, due);
                card.reference = Some(format!("APPR-{}", self.rng.random_range(1000..9999)));
                vec![card]
            }
            _ => {
                let half = (due / Decimal::from(2)).round_dp(0);
                let mut wallet = Tender::new(PaymentMethod::EWallet, half);
                wallet.reference = Some(format!("QR-{}", self.rng.random_range(1000..9999)));
                vec![wallet, Tender::cash(due - half + cash_over)]
            }
        };
        let lines: Vec<(String, Decimal)> = self
            .till(s, l)
            .cart()
            .lines
            .iter()
            .map(|x| (x.sku.clone(), x.quantity.get()))
            .collect();
        let customer = self.till(s, l).cart().customer;
        let mid_commit_crash = self.cfg.faults.has(Fault::Crash) && self.rng.random_ratio(1, 60);
        let paid = if mid_commit_crash {
            self.till(s, l).commit_sale(&tenders)
        } else {
            self.till(s, l).pay(&tenders)
        };
        let receipt = match paid {
            Ok(r) => r,
            Err(e) => {
                self.refused(s, l, "pay", e);
                let _ = self.till(s, l).void_cart(None);
                return;
            }
        };
        self.stats.sales += 1;
        for (sku, q) in &lines {
            self.truth.add_stock(&code, sku, -*q);
        }
        if let Some(c) = customer {
            self.truth
                .add_points(c.0, receipt.points_earned - receipt.points_redeemed);
        }
        self.truth
            .sales
            .insert(receipt.sale_id.0, (code.clone(), receipt.number.clone()));
        self.truth
            .numbers
            .push((receipt.number.clone(), receipt.sale_id.0));
        self.truth
            .sale_numbers
            .entry(code.clone())
            .or_default()
            .push(receipt.number.clone());
        let total = receipt.total;
        self.log(|| {
            format!(
                "{code}/{} sale {} {} lines total {total}{}",
                l + 1,
                receipt.number,
                lines.len(),
                if mid_commit_crash {
                    " (lane killed before its projections)"
                } else {
                    ""
                }
            )
        });
        if mid_commit_crash {
            self.crash(s, l);
        }
    }

    fn refund(&mut self, s: usize, l: usize) {
        let code = self.stores[s].code.clone();
        let numbers = self
            .truth
            .sale_numbers
            .get(&code)
            .cloned()
            .unwrap_or_default();
        if numbers.is_empty() {
            return;
        }
        let number = numbers[self.rng.random_range(0..numbers.len())].clone();
        let lines = match self.till(s, l).returnable(&number) {
            Ok(v) => v,
            Err(e) => return self.refused(s, l, "return", e),
        };
        let Some((line_no, left)) = lines.into_iter().find(|(_, q)| *q > Decimal::ZERO) else {
            return;
        };
        let quantity = if left >= Decimal::ONE {
            Decimal::ONE
        } else {
            left
        };
        let rec = self.till(s, l).refund(
            &number,
            &[ReturnItem { line_no, quantity }],
            PaymentMethod::Cash,
            Some("rusak".into()),
            None,
        );
        match rec {
            Ok(r) => {
                self.stats.returns += 1;
                let (moves, entries) = r.effects();
                for m in moves {
                    self.truth.add_stock(&code, &m.sku, m.quantity);
                }
                for e in entries {
                    self.truth.add_points(e.customer.0, e.points);
                }
                self.truth.numbers.push((r.number.clone(), r.id));
                self.log(|| format!("{code}/{} return {} of sale {number}", l + 1, r.number));
            }
            Err(e) => self.refused(s, l, "return", e),
        }
    }

    fn shift_change(&mut self, s: usize, l: usize) {
        let counted = Decimal::from(self.rng.random_range(400..700_i64) * 1000);
        let code = self.stores[s].code.clone();
        match self.till(s, l).close_shift(counted, None) {
            Ok(_) => {
                let _ = self.till(s, l).open_shift(Decimal::from(500_000));
                self.log(|| format!("{code}/{} shift closed and opened", l + 1));
            }
            Err(e) => self.refused(s, l, "close shift", e),
        }
    }

    fn sign_up(&mut self, s: usize, l: usize) {
        self.phone += 1;
        let phone = format!(
            "0812{:02}{:06}",
            (self.seed % 97) as u8,
            self.phone % 1_000_000
        );
        let code = self.stores[s].code.clone();
        let new = NewCustomer {
            name: format!("Pelanggan {}", self.phone),
            phone: Some(phone),
            email: None,
            customer_code: None,
            address: None,
            date_of_birth: None,
        };
        match self.till(s, l).create_customer(new) {
            Ok(c) => {
                self.truth.points.insert(c.id.0, (code.clone(), 0));
                self.truth
                    .customers
                    .entry(code.clone())
                    .or_default()
                    .push(c.id.0);
                self.log(|| format!("{code}/{} customer {} signed up", l + 1, c.id.0));
            }
            Err(e) => self.refused(s, l, "sign-up", e),
        }
    }

    fn receive(&mut self, s: usize, l: usize) {
        let p = self.catalog[self.rng.random_range(0..self.catalog.len())]
            .sku
            .clone();
        let q = Decimal::from(self.rng.random_range(5..40_i64));
        let code = self.stores[s].code.clone();
        match self
            .till(s, l)
            .receive_stock(&p, q, Some("supplier".into()), None)
        {
            Ok(_) => {
                self.truth.add_stock(&code, &p, q);
                self.log(|| format!("{code}/{} received {q} of {p}", l + 1));
            }
            Err(e) => self.refused(s, l, "receive", e),
        }
    }

    fn hq_price(&mut self) {
        let p = self.catalog[self.rng.random_range(0..self.catalog.len())]
            .sku
            .clone();
        let price = Decimal::from(self.rng.random_range(10..500_i64) * 100);
        self.hq.set_price(&p, price);
        self.log(|| format!("HQ price of {p} now {price}"));
    }

    fn hq_stock(&mut self, s: usize) {
        let code = self.stores[s].code.clone();
        let p = self.catalog[self.rng.random_range(0..self.catalog.len())]
            .sku
            .clone();
        let receipt = self.rng.random_bool(0.5);
        let q = if receipt {
            Decimal::from(self.rng.random_range(5..50_i64))
        } else {
            Decimal::from(self.rng.random_range(-5..=5_i64))
        };
        if q.is_zero() {
            return;
        }
        let at = self.base.now();
        if self.hq.move_stock(&code, &p, q, receipt, at).is_some() {
            self.truth.add_stock(&code, &p, q);
            let what = if receipt { "receipt" } else { "adjustment" };
            self.log(|| format!("HQ stock {what} {code} {p} {q}"));
        }
    }

    fn hq_customer_edit(&mut self) {
        let pick = self.rng.random_range(0..1000);
        let at = self.base.now();
        let name = format!("Pelanggan HQ {pick}");
        if let Some(id) = self.hq.edit_customer(pick, &name, at) {
            self.log(|| format!("HQ renamed customer {id}"));
        }
    }

    /// What HQ would answer if it stored every record (the broken leader's own answer).
    fn all_stored(batch: &HqBatch) -> Processed {
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

    fn hq_fails(&mut self, p: f64) -> bool {
        self.hq_flaky && self.rng.random_bool(p)
    }

    fn leader_round(&mut self, s: usize, l: usize) {
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

    fn crash(&mut self, s: usize, l: usize) {
        let code = self.stores[s].code.clone();
        self.stores[s].lan.stop(l);
        let back = Duration::from_millis(self.rng.random_range(500..20_000));
        let lane = &mut self.stores[s].lanes[l];
        lane.crashed = true;
        lane.hq_told = None;
        lane.restart_at = self.now + back;
        *self.stats.faults.entry(Fault::Crash.name()).or_default() += 1;
        self.log(|| format!("{code}/{} crashed", l + 1));
    }

    fn restart(&mut self, s: usize, l: usize) {
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
        self.stores[s].lan.restart(l, till, config);
        self.tell_hq(s);
        self.log(|| format!("{code}/{} restarted from its files", l + 1));
    }

    fn inject(&mut self, s: usize) {
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

    fn heal_some(&mut self, s: usize) {
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

    /// Whether store `s` is quiet: its lanes hold the same documents, nothing is on its way,
    /// its outbox is empty and HQ has nothing it has not downloaded.
    fn quiet(&mut self, s: usize) -> bool {
        let st = &mut self.stores[s];
        // Announcements are always on their way; what counts is that no peer waits for a
        // document and that every lane holds the same ones.
        if st.lan.pending() != 0 {
            return false;
        }
        let mut first: Option<Vec<(String, String)>> = None;
        for lane in &mut st.lan.lanes {
            let Ok(m) = lane.store.document_manifest() else {
                return false;
            };
            let m: Vec<(String, String)> = m
                .into_iter()
                .map(|(n, d)| (n.as_str().to_string(), format!("{d:?}")))
                .collect();
            match &first {
                None => first = Some(m),
                Some(f) if *f != m => return false,
                Some(_) => {}
            }
            if !matches!(lane.store.hq_batch(1), Ok(None)) {
                return false;
            }
        }
        let code = st.code.clone();
        let Ok(cursor) = st.lan.lanes[0].store.hq_cursor() else {
            return false;
        };
        let (_, latest) = self.hq.download(&code, cursor.as_deref());
        cursor.as_deref() == Some(latest.as_str())
    }

    /// Runs until every store is quiet, or [`QUIESCE_LIMIT`] passes. Returns whether it did.
    pub fn quiesce(&mut self) -> bool {
        let from = self.now;
        let end = self.now + QUIESCE_LIMIT;
        let mut round = 0u64;
        while self.now < end {
            let until = self.now + Duration::from_millis(500);
            self.run_networks(until);
            round += 1;
            if round.is_multiple_of(2) {
                for s in 0..self.stores.len() {
                    self.hq_round(s);
                }
            }
            if round.is_multiple_of(4) && (0..self.stores.len()).all(|s| self.quiet(s)) {
                self.stats.converge = self.now - from;
                self.log(|| "quiet: every store converged and at HQ".to_string());
                return true;
            }
        }
        self.stats.converge = self.now - from;
        false
    }

    /// Counters read off the networks and the lanes at the end.
    pub fn finish_stats(&mut self) {
        let mut oversold = Decimal::ZERO;
        for st in &mut self.stores {
            self.stats.messages += st.lan.net.sent;
            self.stats.bytes += st.lan.net.bytes_sent;
            if let Ok(v) = st.lan.lanes[0].store.oversold_products() {
                for p in v {
                    oversold -= p.stock;
                }
            }
        }
        self.stats.oversold_units = oversold;
    }
}
