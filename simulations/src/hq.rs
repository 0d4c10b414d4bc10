//! A model of the HQ gateway's ingest and download, in memory: the same verdicts per record
//! (`hq-gateway/src/ingest.rs`: stored, duplicate, conflict, invalid) and the same idempotency
//! (every sale, movement and loyalty entry stored once by its id; a sale number held once per
//! store), without a database or a runtime. `tests/tests/sim_hq_model.rs` holds it against the
//! real gateway on the same uploads.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use kasir_core::schema::Decimal;
use kasir_core::schema::domain::{MovementId, MovementType, Product, ReferenceType, SaleUnit};
use kasir_core::schema::txn_number::StoreCode;
use kasir_core::schema::wire::{
    DownloadCustomer, DownloadProduct, Processed, ProcessedCounts, RecordError, RecordResult,
    RecordStatus, StockMovementRecord, SyncDownloadData, SyncUploadRequest, UploadCustomer,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

/// A customer as HQ holds it.
#[derive(Debug, Clone)]
struct HqCustomer {
    id: u64,
    record: UploadCustomer,
    version: u64,
}

#[derive(Debug, Clone)]
struct HqProduct {
    id: u64,
    product: Product,
    version: u64,
}

/// One HQ-originated movement (an adjustment or a stock receipt) for one store.
#[derive(Debug, Clone)]
struct HqMove {
    version: u64,
    store: String,
    record: StockMovementRecord,
}

/// HQ: what it stores, and what it has for the stores to download.
#[derive(Debug)]
pub struct HqModel {
    products: BTreeMap<String, HqProduct>,
    customers: BTreeMap<Uuid, HqCustomer>,
    /// Sale id → (content hash, store, number).
    sales: BTreeMap<Uuid, (String, String, String)>,
    numbers: BTreeMap<(String, String), Uuid>,
    /// Movement id → (store, SKU, signed quantity).
    movements: BTreeMap<Uuid, (String, String, Decimal)>,
    /// Loyalty entry id → (customer, signed points).
    loyalty: BTreeMap<Uuid, (Uuid, i64)>,
    shift_reports: BTreeMap<Uuid, String>,
    hq_moves: Vec<HqMove>,
    version: u64,
    /// How many times each sale was stored (more than once would break I2).
    pub stored_count: BTreeMap<Uuid, u32>,
    /// Every upload as it arrived, with the model's answer (for holding the model against
    /// the gateway).
    pub uploads: Vec<(SyncUploadRequest, Processed)>,
    /// HQ hands its movements out under a new id each time (a deliberate bug).
    pub movements_without_id: bool,
    rng: StdRng,
}

fn counts(results: Vec<(String, RecordStatus, Option<String>)>) -> ProcessedCounts {
    let mut c = ProcessedCounts::default();
    for (id, status, error) in results {
        match status {
            RecordStatus::Stored | RecordStatus::Duplicate => c.success += 1,
            RecordStatus::Conflict | RecordStatus::Invalid => c.failed += 1,
        }
        if let Some(message) = error {
            c.errors.push(RecordError {
                id: id.clone(),
                message,
            });
        }
        c.results.push(RecordResult { id, status });
    }
    c
}

fn content_hash<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

impl HqModel {
    /// HQ with the chain's catalog (ids 1, 2, … in order).
    pub fn new(catalog: &[Product], seed: u64) -> HqModel {
        let products = catalog
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let id = i as u64 + 1;
                let mut product = p.clone();
                product.server_id = Some(id);
                (
                    p.sku.clone(),
                    HqProduct {
                        id,
                        product,
                        version: 1,
                    },
                )
            })
            .collect();
        HqModel {
            products,
            customers: BTreeMap::new(),
            sales: BTreeMap::new(),
            numbers: BTreeMap::new(),
            movements: BTreeMap::new(),
            loyalty: BTreeMap::new(),
            shift_reports: BTreeMap::new(),
            hq_moves: Vec::new(),
            version: 1,
            stored_count: BTreeMap::new(),
            uploads: Vec::new(),
            movements_without_id: false,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    fn bump(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    /// `POST /api/sync/upload`: each record judged on its own, as the gateway does.
    pub fn ingest(&mut self, req: &SyncUploadRequest) -> Processed {
        let store = req.store_id.clone();
        let code = StoreCode::new(&store).ok();
        // 1. customers: new, or updated when the upload is newer.
        let mut customers = Vec::new();
        for c in &req.data.customers {
            let id = c.customer_uuid.0;
            let newer = match self.customers.get(&id) {
                None => true,
                Some(held) => c.updated_at > held.record.updated_at,
            };
            if newer {
                let version = self.bump();
                let n = self.customers.len() as u64 + 1;
                let e = self.customers.entry(id).or_insert(HqCustomer {
                    id: n,
                    record: c.clone(),
                    version,
                });
                e.record = c.clone();
                e.version = version;
            }
            customers.push((id.to_string(), RecordStatus::Stored, None));
        }
        // 2–5. sales.
        let mut sales = Vec::new();
        let mut numbers_in_batch = BTreeSet::new();
        for t in &req.data.transactions {
            let Some(code) = &code else {
                continue;
            };
            let id = t.id(code).0;
            let mut plain = t.clone();
            plain.local_id = None;
            let hash = content_hash(&plain);
            if let Some((held, _, _)) = self.sales.get(&id) {
                let status = if *held == hash {
                    RecordStatus::Duplicate
                } else {
                    RecordStatus::Conflict
                };
                let why = (status == RecordStatus::Conflict)
                    .then(|| "a different sale with this sale_id is stored".to_string());
                sales.push((id.to_string(), status, why));
                continue;
            }
            let number_key = (store.clone(), t.transaction_number.clone());
            let problem = if t.details.is_empty() {
                Some("a sale needs at least one line".to_string())
            } else if let Some(p) = t.details.iter().find(|d| {
                d.sku
                    .as_deref()
                    .is_none_or(|k| !self.products.contains_key(k))
            }) {
                Some(format!("unknown SKU {:?}", p.sku))
            } else if let Some(c) = t
                .customer_uuid
                .filter(|c| !self.customers.contains_key(&c.0))
            {
                Some(format!(
                    "unknown customer {}: upload the customer with the sale",
                    c.0
                ))
            } else if !numbers_in_batch.insert(t.transaction_number.clone()) {
                Some("transaction_number appears twice in this upload".to_string())
            } else {
                None
            };
            if let Some(p) = problem {
                sales.push((id.to_string(), RecordStatus::Invalid, Some(p)));
                continue;
            }
            if self.numbers.contains_key(&number_key) {
                sales.push((
                    id.to_string(),
                    RecordStatus::Conflict,
                    Some(format!(
                        "transaction_number {} is held by another sale",
                        t.transaction_number
                    )),
                ));
                continue;
            }
            self.numbers.insert(number_key, id);
            self.sales
                .insert(id, (hash, store.clone(), t.transaction_number.clone()));
            *self.stored_count.entry(id).or_default() += 1;
            let (moves, entries) = t.effects(code);
            for m in moves {
                self.movements
                    .entry(m.id.0)
                    .or_insert((store.clone(), m.sku, m.quantity));
            }
            for e in entries {
                self.loyalty
                    .entry(e.id.0)
                    .or_insert((e.customer.0, e.points));
            }
            sales.push((id.to_string(), RecordStatus::Stored, None));
        }
        // 6. the store's own movements.
        let mut moves = Vec::new();
        for m in &req.data.stock_movements {
            let id = m.movement_id.0;
            if let Some((_, sku, q)) = self.movements.get(&id) {
                let status = if *sku == m.sku && q.normalize() == m.quantity.normalize() {
                    RecordStatus::Duplicate
                } else {
                    RecordStatus::Conflict
                };
                let why = (status == RecordStatus::Conflict)
                    .then(|| "a different movement with this id is stored".to_string());
                moves.push((id.to_string(), status, why));
                continue;
            }
            if !self.products.contains_key(&m.sku) {
                moves.push((
                    id.to_string(),
                    RecordStatus::Invalid,
                    Some(format!("unknown SKU {:?}", m.sku)),
                ));
                continue;
            }
            self.movements
                .insert(id, (store.clone(), m.sku.clone(), m.quantity));
            moves.push((id.to_string(), RecordStatus::Stored, None));
        }
        // 8. loyalty entries sent alone (a return's reversal).
        let mut entries = Vec::new();
        for e in &req.data.loyalty_entries {
            let id = e.entry_id.0;
            let status = if self.loyalty.contains_key(&id) {
                RecordStatus::Duplicate
            } else if !self.customers.contains_key(&e.customer_uuid.0) {
                entries.push((
                    id.to_string(),
                    RecordStatus::Invalid,
                    Some(format!("unknown customer {}", e.customer_uuid.0)),
                ));
                continue;
            } else {
                self.loyalty.insert(id, (e.customer_uuid.0, e.points));
                RecordStatus::Stored
            };
            entries.push((id.to_string(), status, None));
        }
        // 9. Z reports.
        let mut reports = Vec::new();
        for r in &req.data.shift_reports {
            let id = r.shift_id.0;
            let json = content_hash(r);
            if r.closed_at < r.opened_at {
                reports.push((
                    id.to_string(),
                    RecordStatus::Invalid,
                    Some("closed_at: must not be before opened_at".to_string()),
                ));
                continue;
            }
            let status = match self.shift_reports.get(&id) {
                Some(held) if *held == json => RecordStatus::Duplicate,
                Some(_) => RecordStatus::Conflict,
                None => {
                    self.shift_reports.insert(id, json);
                    RecordStatus::Stored
                }
            };
            reports.push((id.to_string(), status, None));
        }
        let answer = Processed {
            transactions: counts(sales),
            customers: counts(customers),
            stock_movements: Some(counts(moves)),
            loyalty_entries: Some(counts(entries)),
            shift_reports: Some(counts(reports)),
        };
        self.uploads.push((req.clone(), answer.clone()));
        answer
    }

    /// `GET /api/sync/download/{store}?cursor=`: what changed for this store since the cursor
    /// (the model's cursor is `1:sim:<version>`), and the next cursor.
    pub fn download(&mut self, store: &str, cursor: Option<&str>) -> (SyncDownloadData, String) {
        let after: u64 = cursor
            .and_then(|c| c.strip_prefix("1:sim:"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let products: Vec<DownloadProduct> = self
            .products
            .values()
            .filter(|p| p.version > after)
            .map(|p| DownloadProduct {
                id: p.id,
                barcode: p.product.barcode.clone(),
                sku: p.product.sku.clone(),
                name: p.product.name.clone(),
                description: p.product.description.clone(),
                category_id: None,
                unit: match p.product.unit {
                    SaleUnit::Kilogram => "kg".into(),
                    SaleUnit::Piece => "pcs".into(),
                },
                cost_price: p.product.cost_price,
                selling_price: p.product.selling_price,
                stock_quantity: Decimal::ZERO,
                min_stock: p.product.min_stock,
                max_stock: p.product.max_stock,
                is_active: p.product.is_active,
                is_available: true,
                updated_at: DateTime::<Utc>::UNIX_EPOCH,
            })
            .collect();
        let customers: Vec<DownloadCustomer> = self
            .customers
            .values()
            .filter(|c| c.version > after)
            .map(|c| DownloadCustomer {
                id: c.id,
                customer_uuid: c.record.customer_uuid,
                customer_code: c.record.customer_code.clone(),
                name: c.record.name.clone(),
                email: c.record.email.clone(),
                phone: c.record.phone.clone(),
                address: c.record.address.clone(),
                date_of_birth: c.record.date_of_birth,
                loyalty_points: self.points(c.record.customer_uuid.0),
                total_purchases: Decimal::ZERO,
                is_active: c.record.is_active,
                updated_at: c.record.updated_at,
            })
            .collect();
        let mut moves: Vec<StockMovementRecord> = self
            .hq_moves
            .iter()
            .filter(|m| m.version > after && m.store == store)
            .map(|m| m.record.clone())
            .collect();
        if self.movements_without_id {
            for m in &mut moves {
                m.movement_id = MovementId(Uuid::from_u128(self.rng.random()));
            }
        }
        let data = SyncDownloadData {
            products: (!products.is_empty()).then_some(products),
            categories: None,
            customers: (!customers.is_empty()).then_some(customers),
            settings: None,
            stock_movements: (!moves.is_empty()).then_some(moves),
        };
        (data, self.cursor())
    }

    /// The cursor a download now answers with: a store whose cursor is this has everything.
    pub fn cursor(&self) -> String {
        format!("1:sim:{}", self.version)
    }

    /// HQ changes a product's price (`PUT /api/products/{id}`).
    pub fn set_price(&mut self, sku: &str, price: Decimal) -> bool {
        let v = self.bump();
        match self.products.get_mut(sku) {
            Some(p) => {
                p.product.selling_price = price;
                p.version = v;
                true
            }
            None => false,
        }
    }

    /// HQ edits a customer it holds (`PUT /api/customers/{id}`); false if it holds none.
    pub fn edit_customer(&mut self, pick: usize, name: &str, at: DateTime<Utc>) -> Option<Uuid> {
        let n = self.customers.len();
        if n == 0 {
            return None;
        }
        let id = *self.customers.keys().nth(pick % n)?;
        let v = self.bump();
        let c = self.customers.get_mut(&id)?;
        c.record.name = name.to_string();
        c.record.updated_at = at.max(c.record.updated_at + chrono::Duration::milliseconds(1));
        c.version = v;
        Some(id)
    }

    /// HQ moves a store's stock (`PUT /api/products/{id}/stock`: an adjustment, or goods
    /// received from the warehouse), under an id of its own. Returns the movement.
    pub fn move_stock(
        &mut self,
        store: &str,
        sku: &str,
        quantity: Decimal,
        receipt: bool,
        at: DateTime<Utc>,
    ) -> Option<StockMovementRecord> {
        let product_id = self.products.get(sku)?.id;
        let id = Uuid::from_u128(self.rng.random());
        let (movement_type, reference_type) = if receipt {
            (MovementType::In, ReferenceType::Purchase)
        } else {
            (MovementType::Adjustment, ReferenceType::Adjustment)
        };
        let record = StockMovementRecord {
            movement_id: MovementId(id),
            product_id: Some(product_id),
            sku: sku.to_string(),
            movement_type,
            quantity,
            reference_type,
            sale_id: None,
            notes: Some("HQ".into()),
            created_by: None,
            created_at: at,
            reference_id: None,
            from_store_id: None,
            to_store_id: None,
        };
        let version = self.bump();
        self.movements
            .insert(id, (store.to_string(), sku.to_string(), quantity));
        self.hq_moves.push(HqMove {
            version,
            store: store.to_string(),
            record: record.clone(),
        });
        Some(record)
    }

    /// The ids of HQ's own movements (its adjustments and stock receipts), which no lane may
    /// send back to it.
    pub fn own_movement_ids(&self) -> BTreeSet<Uuid> {
        self.hq_moves
            .iter()
            .map(|m| m.record.movement_id.0)
            .collect()
    }

    /// A store's stock of a product as HQ counts it: the sum of the movements it holds.
    pub fn stock(&self, store: &str, sku: &str) -> Decimal {
        self.movements
            .values()
            .filter(|(s, k, _)| s == store && k == sku)
            .map(|(_, _, q)| *q)
            .sum()
    }

    /// A customer's points as HQ counts them.
    pub fn points(&self, customer: Uuid) -> i64 {
        self.loyalty
            .values()
            .filter(|(c, _)| *c == customer)
            .map(|(_, p)| *p)
            .sum()
    }

    /// What HQ answered each time sale `id` was uploaded (for a violation's explanation).
    pub fn verdicts_on(&self, id: Uuid) -> Vec<String> {
        let id = id.to_string();
        let mut out = Vec::new();
        for (_, answer) in &self.uploads {
            let t = &answer.transactions;
            for r in t.results.iter().filter(|r| r.id == id) {
                let why = t
                    .errors
                    .iter()
                    .find(|e| e.id == id)
                    .map(|e| format!(": {}", e.message))
                    .unwrap_or_default();
                out.push(format!("{:?}{why}", r.status));
            }
        }
        out
    }

    /// Every product HQ holds, with its selling price.
    pub fn prices(&self) -> impl Iterator<Item = (&str, Decimal)> {
        self.products
            .iter()
            .map(|(sku, p)| (sku.as_str(), p.product.selling_price))
    }

    /// Every customer HQ holds, with its name.
    pub fn customer_names(&self) -> impl Iterator<Item = (Uuid, &str)> {
        self.customers
            .iter()
            .map(|(id, c)| (*id, c.record.name.as_str()))
    }

    pub fn has_customer(&self, id: Uuid) -> bool {
        self.customers.contains_key(&id)
    }

    /// Every stored sale: id → (store, number).
    pub fn sales(&self) -> impl Iterator<Item = (&Uuid, &str, &str)> {
        self.sales
            .iter()
            .map(|(id, (_, s, n))| (id, s.as_str(), n.as_str()))
    }

    pub fn sale_count(&self) -> usize {
        self.sales.len()
    }

    pub fn price(&self, sku: &str) -> Option<Decimal> {
        self.products.get(sku).map(|p| p.product.selling_price)
    }
}
