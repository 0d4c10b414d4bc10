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
use kasir_core::memlan::{LaneTill, MemLan, Packet};
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
    pub lan: MemLan<LaneTill>,
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

/// The file of lane `no` of store `code` (its ledger file lies beside it).
fn lane_file(code: &str, no: u32) -> String {
    format!("{code}-lane{no}.db")
}

/// What every scenario of one size starts from: each store's lanes set up in their files (the
/// store, its manager, lane 1 with the catalog and opening stock, a shift open on every lane,
/// HQ's first download applied) and all of it spread over the store's LAN. Setting up is half the work of a
/// short scenario and the same for every seed, so it is done once per size and process (with
/// seed 0) and its files copied for each scenario; the seed then drives everything after.
#[derive(Debug)]
struct Template {
    /// File name → bytes, every file of the set-up's directory.
    files: Vec<(String, Vec<u8>)>,
    opening_stock: BTreeMap<(String, String), Decimal>,
}

impl Template {
    /// The template of `cfg`'s size, built on first use.
    fn for_size(cfg: &Config) -> Res<Arc<Template>> {
        type Size = (u16, u16, u16);
        static BUILT: std::sync::Mutex<BTreeMap<Size, Arc<Template>>> =
            std::sync::Mutex::new(BTreeMap::new());
        let size = (cfg.stores, cfg.lanes, cfg.products);
        // Held while building, so two threads do not build the same size twice.
        let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = built.get(&size) {
            return Ok(t.clone());
        }
        let t = Arc::new(Template::build(cfg)?);
        built.insert(size, t.clone());
        Ok(t)
    }

    fn build(cfg: &Config) -> Res<Template> {
        let mut quiet = cfg.clone();
        quiet.faults = crate::config::Faults::none();
        quiet.bug = None;
        let dir = scratch().map_err(|e| format!("scratch directory: {e}"))?;
        let mut w = World::bare(quiet, 0, false, dir)?;
        for s in 0..usize::from(cfg.stores) {
            for l in 0..usize::from(cfg.lanes) {
                w.set_up_lane(s, l)?;
            }
            w.open_store(s)?;
            // The store's first download from HQ (every product, HQ's values as the base of
            // the three-way rule), as a new store's leader would apply it.
            let code = store_code(s);
            let (data, cursor) = w.hq.download(&code, None);
            w.till(s, 0)
                .hq_apply_download(&data, &cursor)
                .map_err(|e| format!("{code}: first download: {e}"))?;
            w.stores[s].lan.local_change(0);
        }
        let until = w.now + Duration::from_secs(30);
        w.run_networks(until);
        for s in 0..w.stores.len() {
            if let Some(why) = w.unquiet_lan(s) {
                return Err(format!("the set-up did not settle: {why}"));
            }
        }
        let World {
            stores,
            truth,
            _dir: dir,
            ..
        } = w;
        // Closing every lane checkpoints its files.
        drop(stores);
        let mut files = Vec::new();
        let entries = std::fs::read_dir(dir.path()).map_err(|e| e.to_string())?;
        for e in entries {
            let e = e.map_err(|e| e.to_string())?;
            let bytes = std::fs::read(e.path()).map_err(|e| e.to_string())?;
            files.push((e.file_name().to_string_lossy().into_owned(), bytes));
        }
        files.sort();
        Ok(Template {
            files,
            opening_stock: truth.stock,
        })
    }
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

mod faults;
mod leader;
mod workload;

impl World {
    /// Builds the chain for one scenario.
    /// A scenario's world: the set-up of its size (built once per size and process, see
    /// [`Template`]) copied into a scratch directory of its own, every lane opened from it
    /// with this seed's clocks, skews and randomness, and the LANs connected.
    pub fn new(cfg: Config, seed: u64, keep_log: bool) -> Res<World> {
        cfg.validate()?;
        let template = Template::for_size(&cfg)?;
        let dir = scratch().map_err(|e| format!("scratch directory: {e}"))?;
        for (name, bytes) in &template.files {
            std::fs::write(dir.path().join(name), bytes)
                .map_err(|e| format!("copy of the set-up ({name}): {e}"))?;
        }
        let mut w = World::bare(cfg, seed, keep_log, dir)?;
        w.truth.stock = template.opening_stock.clone();
        for s in 0..usize::from(w.cfg.stores) {
            w.open_store(s)?;
        }
        // The lanes hold the same documents already: the LANs only connect.
        let until = w.now + Duration::from_secs(10);
        w.run_networks(until);
        w.next_action = w.now;
        for s in 0..w.stores.len() {
            if w.cfg.bug == Some(Bug::DropSyncMessages) {
                w.stores[s].lan.net.drop_if = Some(is_sync_frame);
            }
        }
        Ok(w)
    }

    /// A world with no stores yet.
    fn bare(cfg: Config, seed: u64, keep_log: bool, dir: tempfile::TempDir) -> Res<World> {
        let start = Utc
            .with_ymd_and_hms(2026, 11, 23, 2, 0, 0)
            .single()
            .ok_or("start time")?;
        let base = ManualClock::new(start);
        let mut rng = StdRng::seed_from_u64(seed);
        let catalog = kasir_core::demo::products(usize::from(cfg.products), 7);
        let mut hq = HqModel::new(&catalog, rng.random());
        hq.movements_without_id = cfg.bug == Some(Bug::HqAdjustmentWithoutId);
        Ok(World {
            cfg,
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
        })
    }

    /// Sets up lane `l` of store `s` in its files (for the [`Template`]): the store's
    /// configuration and manager, lane 1 with the catalog and opening stock, a shift open.
    fn set_up_lane(&mut self, s: usize, l: usize) -> Res<()> {
        let code = store_code(s);
        let clock: Arc<dyn Clock> = self.base.clone();
        let no = u32::try_from(l + 1).map_err(|e| e.to_string())?;
        let path = self._dir.path().join(lane_file(&code, no));
        let mut till = Till::open(&path, options(clock, self.rng.random()))
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
        Ok(())
    }

    /// Opens store `s`'s lanes from their files onto a new LAN, each with its clock (skewed
    /// when the scenario has that fault) and its share of the seed.
    fn open_store(&mut self, s: usize) -> Res<()> {
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
            let no = u32::try_from(l + 1).map_err(|e| e.to_string())?;
            let path = self._dir.path().join(lane_file(&code, no));
            let mut till = Till::open(&path, options(clock.clone(), self.rng.random()))
                .map_err(|e| format!("open {code} lane {no}: {e}"))?;
            till.login(MANAGER.0, MANAGER.1)
                .map_err(|e| e.to_string())?;
            let mut config = LaneConfig::new(node(s, l));
            config.static_members = members.clone();
            if l > 0 {
                config.static_peers = vec![(node(s, 0), vec![MemLan::<LaneTill>::addr_of(0)])];
            }
            lan.add(LaneTill::new(till), config.clone());
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

    /// Lane `l` of store `s`'s till, for an action of its own: what it received and keeps in
    /// memory is stored first (as the node's replicator would have by then).
    fn till(&mut self, s: usize, l: usize) -> &mut Till {
        self.stores[s].lan.store_received(l);
        self.stores[s].lan.lanes[l].store.till_mut()
    }

    fn refused(&mut self, s: usize, l: usize, what: &str, e: impl std::fmt::Display) {
        self.stats.refused += 1;
        let code = self.stores[s].code.clone();
        self.log(|| format!("{code}/{} {what} refused: {e}", l + 1));
    }

    /// What keeps store `s` from being quiet, if anything. Quiet: nothing on its way, every
    /// lane holds the same documents, the outbox is empty and HQ has nothing not downloaded.
    fn unquiet(&mut self, s: usize) -> Option<String> {
        if let Some(why) = self.unquiet_lan(s) {
            return Some(why);
        }
        let code = self.stores[s].code.clone();
        for (i, lane) in self.stores[s].lan.lanes.iter_mut().enumerate() {
            match lane.store.till_mut().hq_batch(1) {
                Ok(None) => {}
                Ok(Some(b)) => {
                    let e = &b.entries[0];
                    return Some(format!(
                        "{code}/{}: outbox to HQ not empty ({} {} version {:?} waits)",
                        i + 1,
                        e.table,
                        e.key,
                        e.version
                    ));
                }
                Err(e) => return Some(format!("{code}/{}: outbox unreadable: {e}", i + 1)),
            }
        }
        let cursor = self.stores[s].lan.lanes[0]
            .store
            .till_mut()
            .hq_cursor()
            .ok()
            .flatten();
        let hq = self.hq.cursor();
        (cursor.as_deref() != Some(hq.as_str())).then(|| {
            format!(
                "{code}: download not caught up (lane 1 at {}, HQ at {hq})",
                cursor.as_deref().unwrap_or("nothing")
            )
        })
    }

    /// What keeps store `s`'s LAN from being quiet: messages on their way, lanes holding
    /// different documents.
    fn unquiet_lan(&mut self, s: usize) -> Option<String> {
        let code = self.stores[s].code.clone();
        let st = &mut self.stores[s];
        // Announcements are always on their way; what counts is that no peer waits for a
        // document and that every lane holds the same ones.
        let pending = st.lan.pending();
        if pending != 0 {
            return Some(format!(
                "{code}: {pending} sync messages still on their way"
            ));
        }
        if let Some(i) = st.lan.lanes.iter().position(|l| l.store.has_received()) {
            return Some(format!("{code}/{} holds merges not stored yet", i + 1));
        }
        let mut first: Option<Vec<(String, String)>> = None;
        for (i, lane) in st.lan.lanes.iter_mut().enumerate() {
            let m = match lane.store.document_manifest() {
                Ok(m) => m,
                Err(e) => return Some(format!("{code}/{}: manifest unreadable: {e}", i + 1)),
            };
            let m: Vec<(String, String)> = m
                .into_iter()
                .map(|(n, d)| (n.as_str().to_string(), format!("{d:?}")))
                .collect();
            match &first {
                None => first = Some(m),
                Some(f) if *f != m => {
                    let differ: Vec<&str> = f
                        .iter()
                        .filter(|d| !m.contains(d))
                        .map(|(n, _)| n.as_str())
                        .collect();
                    return Some(format!(
                        "{code}/{} holds other heads than lane 1 for {}",
                        i + 1,
                        differ.join(", ")
                    ));
                }
                Some(_) => {}
            }
        }
        None
    }

    /// Runs until every store is quiet, or [`QUIESCE_LIMIT`] passes. Returns `None` when it
    /// did, else what was still not quiet at the end.
    pub fn quiesce(&mut self) -> Option<String> {
        let from = self.now;
        let end = self.now + QUIESCE_LIMIT;
        let mut round = 0u64;
        let mut last = None;
        while self.now < end {
            let until = self.now + Duration::from_millis(500);
            self.run_networks(until);
            round += 1;
            if round.is_multiple_of(2) {
                for s in 0..self.stores.len() {
                    self.hq_round(s);
                }
            }
            if round.is_multiple_of(4) {
                last = (0..self.stores.len()).find_map(|s| self.unquiet(s));
                if last.is_none() {
                    self.stats.converge = self.now - from;
                    self.log(|| "quiet: every store converged and at HQ".to_string());
                    return None;
                }
            }
        }
        self.stats.converge = self.now - from;
        Some(last.unwrap_or_else(|| "not checked".to_string()))
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
