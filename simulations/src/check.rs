//! The checkers: after a scenario quiesced, the lanes and HQ against what the acknowledged
//! operations say ([`Truth`]). Each violation comes with a sentence saying what is wrong where.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use kasir_core::schema::Decimal;
use kasir_core::schema::domain::CustomerId;
use kasir_core::schema::wire::RecordStatus;

use crate::world::World;

/// The invariants of ARCHITECTURE.md the simulator checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    /// I1: every lane of a store holds the same documents and the same sales after quiesce.
    Convergence,
    /// I2: every acknowledged sale is at HQ exactly once (and on every lane of its store).
    SalesAtHqOnce,
    /// I3: stock per product per store adds up, on every lane and at HQ.
    StockConserved,
    /// I4: loyalty points add up, on every lane of the customer's store and at HQ.
    LoyaltyConserved,
    /// I5: no transaction number names two records, chain-wide.
    UniqueNumbers,
}

impl Invariant {
    pub const ALL: [Invariant; 5] = [
        Invariant::Convergence,
        Invariant::SalesAtHqOnce,
        Invariant::StockConserved,
        Invariant::LoyaltyConserved,
        Invariant::UniqueNumbers,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Invariant::Convergence => "I1",
            Invariant::SalesAtHqOnce => "I2",
            Invariant::StockConserved => "I3",
            Invariant::LoyaltyConserved => "I4",
            Invariant::UniqueNumbers => "I5",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Invariant::Convergence => "convergence",
            Invariant::SalesAtHqOnce => "every sale at HQ once",
            Invariant::StockConserved => "stock conservation",
            Invariant::LoyaltyConserved => "loyalty conservation",
            Invariant::UniqueNumbers => "unique transaction numbers",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: Invariant,
    pub text: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.invariant.code(),
            self.invariant.title(),
            self.text
        )
    }
}

/// A lane's documents: name → digest (shortened).
type Manifest = BTreeMap<String, String>;
/// Rows of two text columns.
type Rows = Vec<(String, String)>;

/// At most this many violations of one invariant are spelled out (the rest are counted).
const SPELLED: usize = 5;

#[derive(Debug, Default)]
struct Found(Vec<Violation>, BTreeMap<Invariant, usize>);

impl Found {
    fn add(&mut self, invariant: Invariant, text: String) {
        let n = self.1.entry(invariant).or_default();
        *n += 1;
        if *n <= SPELLED {
            self.0.push(Violation { invariant, text });
        } else if *n == SPELLED + 1 {
            self.0.push(Violation {
                invariant,
                text: "… and more like these".into(),
            });
        }
    }
}

/// Rows of two text columns from a lane's file.
fn sql_pairs(conn: &rusqlite::Connection, sql: &'static str) -> Vec<(String, String)> {
    let Ok(mut stmt) = conn.prepare(sql) else {
        return Vec::new();
    };
    stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map(|rows| rows.filter_map(Result::ok).collect())
        .unwrap_or_default()
}

/// Runs every checker. `unquiet` is what kept the scenario from reaching quiet, if anything.
pub fn check(w: &mut World, unquiet: Option<&str>) -> Vec<Violation> {
    let mut found = Found::default();
    if let Some(why) = unquiet {
        found.add(
            Invariant::Convergence,
            format!(
                "the chain did not become quiet within {} min of virtual time after heal: {why}",
                crate::world::QUIESCE_LIMIT.as_secs() / 60
            ),
        );
    }
    convergence(w, &mut found);
    if unquiet.is_none() {
        records_as_hq(w, &mut found);
    }
    sales_at_hq(w, &mut found);
    refused_at_hq(w, &mut found);
    stock(w, &mut found);
    loyalty(w, &mut found);
    numbers(w, &mut found);
    found.0
}

fn convergence(w: &mut World, found: &mut Found) {
    for st in &mut w.stores {
        let code = st.code.clone();
        let mut first: Option<(u32, Manifest, Rows)> = None;
        for (lane, meta) in st.lan.lanes.iter_mut().zip(&st.lanes) {
            let manifest: BTreeMap<String, String> = lane
                .store
                .document_manifest()
                .unwrap_or_default()
                .into_iter()
                .map(|(n, d)| {
                    (
                        n.as_str().to_string(),
                        d.iter().map(|b| format!("{b:02x}")).take(6).collect(),
                    )
                })
                .collect();
            let sales = sql_pairs(
                lane.store.connection(),
                "SELECT sale_id, transaction_number FROM transactions ORDER BY sale_id",
            );
            match &first {
                None => first = Some((meta.no, manifest, sales)),
                Some((no, m, s)) => {
                    if *m != manifest {
                        let differ: Vec<&String> = m
                            .keys()
                            .chain(manifest.keys())
                            .collect::<BTreeSet<_>>()
                            .into_iter()
                            .filter(|k| m.get(*k) != manifest.get(*k))
                            .take(4)
                            .collect();
                        found.add(
                            Invariant::Convergence,
                            format!(
                                "store {code}: lane {} and lane {no} hold different documents \
                                 after quiesce: {}",
                                meta.no,
                                differ
                                    .iter()
                                    .map(|k| k.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        );
                    }
                    if *s != sales {
                        found.add(
                            Invariant::Convergence,
                            format!(
                                "store {code}: lane {} has {} sales, lane {no} has {}",
                                meta.no,
                                sales.len(),
                                s.len()
                            ),
                        );
                    }
                }
            }
        }
    }
}

/// Every store's lanes hold every customer and price as HQ holds it (HQ's edits and the
/// lanes' sign-ups meet in one value), once quiet. The workload sets no store prices, so HQ's
/// price is the price.
fn records_as_hq(w: &mut World, found: &mut Found) {
    let names: BTreeMap<String, String> =
        w.hq.customer_names()
            .map(|(id, n)| (id.to_string(), n.to_string()))
            .collect();
    let prices: BTreeMap<String, String> =
        w.hq.prices()
            .map(|(sku, p)| (sku.to_string(), p.normalize().to_string()))
            .collect();
    for st in &mut w.stores {
        let Some(lane) = st.lan.lanes.first_mut() else {
            continue;
        };
        let held_names: BTreeMap<String, String> = sql_pairs(
            lane.store.connection(),
            "SELECT customer_uuid, name FROM customers",
        )
        .into_iter()
        .collect();
        let held_prices: BTreeMap<String, String> = lane
            .store
            .active_products(usize::MAX)
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p.sku, p.price.normalize().to_string()))
            .collect();
        for (what, at_hq, held) in [
            ("customer", &names, &held_names),
            ("price of", &prices, &held_prices),
        ] {
            for (id, value) in at_hq {
                match held.get(id) {
                    Some(v) if v == value => {}
                    other => found.add(
                        Invariant::Convergence,
                        format!(
                            "store {}: {what} {id} is {value:?} at HQ but {} on the lanes",
                            st.code,
                            other.map_or("missing".to_string(), |v| format!("{v:?}"))
                        ),
                    ),
                }
            }
        }
    }
}

/// Nothing a lane sent did HQ refuse for good (invalid, or in conflict with what it holds):
/// such a record never reaches HQ, whatever it is (a sale, a customer, a Z report).
fn refused_at_hq(w: &World, found: &mut Found) {
    for (req, answer) in &w.hq.uploads {
        let lists = [
            ("sale", Some(&answer.transactions)),
            ("customer", Some(&answer.customers)),
            ("stock movement", answer.stock_movements.as_ref()),
            ("loyalty entry", answer.loyalty_entries.as_ref()),
            ("Z report", answer.shift_reports.as_ref()),
        ];
        for (what, counts) in lists {
            let Some(c) = counts else {
                continue;
            };
            for r in &c.results {
                if matches!(r.status, RecordStatus::Invalid | RecordStatus::Conflict) {
                    let why = c
                        .errors
                        .iter()
                        .find(|e| e.id == r.id)
                        .map_or("no reason given", |e| e.message.as_str());
                    found.add(
                        Invariant::SalesAtHqOnce,
                        format!(
                            "HQ refused {what} {} of store {} for good ({:?}: {why})",
                            r.id, req.store_id, r.status
                        ),
                    );
                }
            }
        }
    }
}

fn sales_at_hq(w: &mut World, found: &mut Found) {
    let at_hq: BTreeMap<uuid::Uuid, (String, String)> =
        w.hq.sales()
            .map(|(id, s, n)| (*id, (s.to_string(), n.to_string())))
            .collect();
    for (id, (store, number)) in &w.truth.sales {
        match at_hq.get(id) {
            None => {
                let verdicts = w.hq.verdicts_on(*id);
                let sent = if verdicts.is_empty() {
                    "never uploaded".to_string()
                } else {
                    format!("HQ answered {}", verdicts.join(", "))
                };
                found.add(
                    Invariant::SalesAtHqOnce,
                    format!(
                        "sale {number} of store {store} (id {id}) was acknowledged but is not \
                         at HQ ({sent})"
                    ),
                )
            }
            Some((s, n)) if s != store || n != number => found.add(
                Invariant::SalesAtHqOnce,
                format!("sale {id} was acknowledged as {store} {number}, HQ holds it as {s} {n}"),
            ),
            Some(_) => {}
        }
        let times = w.hq.stored_count.get(id).copied().unwrap_or(0);
        if times > 1 {
            found.add(
                Invariant::SalesAtHqOnce,
                format!("sale {number} of store {store} was stored at HQ {times} times"),
            );
        }
    }
    for (id, (s, n)) in &at_hq {
        if !w.truth.sales.contains_key(id) {
            found.add(
                Invariant::SalesAtHqOnce,
                format!("HQ holds sale {n} of store {s} (id {id}) that no lane acknowledged"),
            );
        }
    }
    // Every lane of a store holds every sale of it.
    for st in &mut w.stores {
        for (lane, meta) in st.lan.lanes.iter_mut().zip(&st.lanes) {
            let held: BTreeSet<String> = sql_pairs(
                lane.store.connection(),
                "SELECT sale_id, transaction_number FROM transactions",
            )
            .into_iter()
            .map(|(id, _)| id)
            .collect();
            for (id, (store, number)) in &w.truth.sales {
                if *store == st.code && !held.contains(&id.to_string()) {
                    found.add(
                        Invariant::SalesAtHqOnce,
                        format!("store {store}: lane {} lost sale {number}", meta.no),
                    );
                }
            }
        }
    }
}

fn stock(w: &mut World, found: &mut Found) {
    for st in &mut w.stores {
        let code = st.code.clone();
        let skus: BTreeSet<String> = w
            .truth
            .stock
            .keys()
            .filter(|(s, _)| *s == code)
            .map(|(_, k)| k.clone())
            .collect();
        for sku in &skus {
            let want = w
                .truth
                .stock
                .get(&(code.clone(), sku.clone()))
                .copied()
                .unwrap_or_default();
            let hq = w.hq.stock(&code, sku);
            if hq != want {
                found.add(
                    Invariant::StockConserved,
                    format!(
                        "store {code}, {sku}: the acknowledged movements add up to {want}, HQ \
                         counts {hq} ({})",
                        signed(hq - want)
                    ),
                );
            }
            for (lane, meta) in st.lan.lanes.iter_mut().zip(&st.lanes) {
                let held = lane
                    .store
                    .product(sku)
                    .ok()
                    .flatten()
                    .map_or(Decimal::ZERO, |p| p.stock);
                if held != want {
                    found.add(
                        Invariant::StockConserved,
                        format!(
                            "store {code}, {sku}: the acknowledged movements add up to {want}, \
                             lane {} shows {held} ({})",
                            meta.no,
                            signed(held - want)
                        ),
                    );
                }
            }
        }
        for (lane, meta) in st.lan.lanes.iter_mut().zip(&st.lanes) {
            for d in lane.store.stock_discrepancies().unwrap_or_default() {
                found.add(
                    Invariant::StockConserved,
                    format!(
                        "store {code}, lane {}: its stock disagrees with its own movements: {d}",
                        meta.no
                    ),
                );
            }
        }
    }
}

fn signed(d: Decimal) -> String {
    if d > Decimal::ZERO {
        format!("{d} too many")
    } else {
        format!("{} missing", -d)
    }
}

fn loyalty(w: &mut World, found: &mut Found) {
    for (id, (store, want)) in &w.truth.points {
        let hq = w.hq.points(*id);
        if w.hq.has_customer(*id) && hq != *want {
            found.add(
                Invariant::LoyaltyConserved,
                format!("customer {id} of {store}: acknowledged sales and returns give {want} points, HQ counts {hq}"),
            );
        }
        if !w.hq.has_customer(*id) {
            found.add(
                Invariant::LoyaltyConserved,
                format!("customer {id} of {store} signed up at a lane but is not at HQ"),
            );
        }
        let Some(st) = w.stores.iter_mut().find(|s| s.code == *store) else {
            continue;
        };
        for (lane, meta) in st.lan.lanes.iter_mut().zip(&st.lanes) {
            let held = lane.store.customer(CustomerId(*id)).ok().flatten();
            match held {
                Some(c) if c.points != *want => found.add(
                    Invariant::LoyaltyConserved,
                    format!(
                        "customer {id} of {store}: acknowledged sales and returns give {want} points, lane {} shows {}",
                        meta.no, c.points
                    ),
                ),
                None => found.add(
                    Invariant::LoyaltyConserved,
                    format!("customer {id} of {store} is missing on lane {}", meta.no),
                ),
                Some(_) => {}
            }
        }
    }
    for st in &mut w.stores {
        let code = st.code.clone();
        for (lane, meta) in st.lan.lanes.iter_mut().zip(&st.lanes) {
            for d in lane.store.loyalty_discrepancies().unwrap_or_default() {
                found.add(
                    Invariant::LoyaltyConserved,
                    format!(
                        "store {code}, lane {}: points disagree with its own entries: {d}",
                        meta.no
                    ),
                );
            }
        }
    }
}

fn numbers(w: &mut World, found: &mut Found) {
    let mut seen: BTreeMap<String, BTreeSet<uuid::Uuid>> = BTreeMap::new();
    for (number, id) in &w.truth.numbers {
        seen.entry(number.clone()).or_default().insert(*id);
    }
    for st in &mut w.stores {
        for lane in &mut st.lan.lanes {
            for (id, n) in sql_pairs(
                lane.store.connection(),
                "SELECT sale_id, transaction_number FROM transactions
                 UNION ALL SELECT return_id, return_number FROM returns",
            ) {
                if let Ok(id) = id.parse() {
                    seen.entry(n).or_default().insert(id);
                }
            }
        }
    }
    for (id, _, n) in w.hq.sales() {
        seen.entry(n.to_string()).or_default().insert(*id);
    }
    for (number, ids) in seen {
        if ids.len() > 1 {
            found.add(
                Invariant::UniqueNumbers,
                format!(
                    "number {number} was given to {} records: {}",
                    ids.len(),
                    ids.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
}
