//! The demo store: what `cargo run --release` opens.
//!
//! Store DEMO01 as it would run in a shop, in one process and one data directory:
//! - an **HQ gateway** (the real `kasir-gateway`, on SQLite in `DIR/hq.db`) on a loopback
//!   port, holding the store, its catalog (categories, products with EAN-13 codes, fruit
//!   weighed at a scale and meat labelled with its price) and a device credential;
//! - **lane 1**, the till on the screen, set up with the same catalog, opening stock of the
//!   first 200 products, and the demo people (a cashier, a supervisor, a manager);
//! - **lanes 2 and 3**, without a screen, which sell a few random baskets a minute each;
//! - the three lanes on a store LAN over iroh on loopback (their keys in `DIR/laneN.key`),
//!   replicating catalog, stock and sales; the store's HQ credential entered once, so the lane
//!   that leads forwards every sale to HQ and brings HQ's changes back.
//!
//! The first start sets everything up (a few seconds; it says what it does); later starts reuse
//! the directory. Nothing here is a shortcut: the lanes and HQ run the code a store runs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kasir_node::lan::{LanConfig, endpoint_addr, load_or_create_key};
use kasir_node::schema::Decimal;
use kasir_node::schema::domain::{Category, Product, StoreConfig};
use kasir_node::schema::roles::Role;
use kasir_node::schema::txn_number::LaneNo;
use kasir_node::types::{AuthParams, HqCredential, NewUser, default_store_config};
use kasir_node::{Command, Node, NodeOptions, demo};
use serde_json::{Value, json};

/// (who, user, PIN) of the demo store's people.
pub const USERS: [(&str, &str, &str); 3] = [
    ("Siti (kasir)", "siti", "1234"),
    ("Budi (supervisor)", "budi", "5678"),
    ("Maya (manajer)", "maya", "9999"),
];

/// The store code of the demo store.
pub const STORE: &str = "DEMO01";
/// HQ's administrator in the demo (printed on start, for curl).
pub const HQ_ADMIN: (&str, &str) = ("hq-admin", "Toko-Demo-2026-x");
/// The loopback port the embedded HQ tries first (any free one if it is taken).
pub const HQ_PORT: u16 = 8470;
/// The seed of the demo catalog (lane and HQ hold the same one).
const CATALOG_SEED: u64 = 42;
/// Products with opening stock (40 each), the ones the background lanes sell.
const STOCKED: usize = 200;

/// The demo users as the login screen lists them.
pub fn users() -> Vec<(String, String, String)> {
    USERS
        .iter()
        .map(|(w, u, p)| ((*w).to_string(), (*u).to_string(), (*p).to_string()))
        .collect()
}

fn store_config() -> kasir_node::Result<StoreConfig> {
    let mut config = default_store_config(STORE, "Toko Demo Kasir")?;
    config.address = Some("Jl. Merdeka No. 1, Jakarta".into());
    Ok(config)
}

fn lane_no(n: u32) -> LaneNo {
    LaneNo::new(n).expect("lanes 1–3 are lane numbers")
}

/// The demo's manager logs in on `node`.
fn log_in_manager(node: &Node) -> kasir_node::Result<kasir_node::Outcome> {
    node.execute(Command::Login {
        username: "maya".into(),
        pin: "9999".into(),
    })
}

fn manager() -> NewUser {
    NewUser {
        username: "maya".into(),
        full_name: "Maya (manajer)".into(),
        role: Role::Manager,
        pin: "9999".into(),
    }
}

/// Sets up `node` as lane 1 of the demo store with `products` products of the demo catalog
/// (and its categories) and opening stock, unless it is set up already. Nobody is logged in
/// afterwards.
pub fn set_up(node: &Node, products: usize) -> kasir_node::Result<()> {
    if node.is_set_up()? {
        return Ok(());
    }
    let (categories, catalog) = demo::store_catalog(products, CATALOG_SEED);
    node.execute(Command::SetUp {
        config: Box::new(store_config()?),
        lane: lane_no(1),
        manager: manager(),
    })?;
    log_in_manager(node)?;
    for (username, full_name, role, pin) in [
        ("budi", "Budi (supervisor)", Role::Supervisor, "5678"),
        ("siti", "Siti (kasir)", Role::Cashier, "1234"),
    ] {
        node.execute(Command::CreateUser {
            user: NewUser {
                username: username.into(),
                full_name: full_name.into(),
                role,
                pin: pin.into(),
            },
            approval: None,
        })?;
    }
    node.execute(Command::ImportCategories(categories))?;
    node.execute(Command::ImportProducts(catalog.clone()))?;
    for p in catalog.iter().take(STOCKED) {
        node.execute(Command::ReceiveStock {
            sku: p.sku.clone(),
            quantity: Decimal::from(40),
            notes: Some("stok awal".into()),
            approval: None,
        })?;
    }
    node.execute(Command::Logout)?;
    Ok(())
}

/// How to run the demo store.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where everything lives (HQ's database, the lanes' files and keys).
    pub dir: PathBuf,
    /// Products in the catalog (at first start).
    pub products: usize,
    /// Baskets a minute each background lane sells (0: none).
    pub baskets_per_minute: f64,
    /// PIN hashing of the lanes (production's by default; tests use a fast one).
    pub auth: AuthParams,
    /// The port HQ tries first (0: any free one).
    pub hq_port: u16,
}

impl DemoOptions {
    pub fn new(dir: impl Into<PathBuf>) -> DemoOptions {
        DemoOptions {
            dir: dir.into(),
            products: 5_000,
            baskets_per_minute: 4.0,
            auth: AuthParams::default(),
            hq_port: HQ_PORT,
        }
    }
}

/// A running demo store. Dropping it without [`DemoStore::shutdown`] leaves the work to the
/// process's exit.
#[derive(Debug)]
pub struct DemoStore {
    /// Lane 1, the till on the screen.
    pub till: Node,
    /// Lanes 2 and 3, selling in the background.
    pub lanes: Vec<Node>,
    /// The embedded HQ gateway's address (`http://127.0.0.1:PORT`).
    pub hq_url: String,
    /// The demo store's id at HQ.
    pub hq_store_id: u64,
    runtime: Option<tokio::runtime::Runtime>,
    stop: Arc<AtomicBool>,
    sellers: Vec<std::thread::JoinHandle<()>>,
}

/// What the first start leaves in `DIR/hq-demo.json` for the next.
const HQ_FILE: &str = "hq-demo.json";

impl DemoStore {
    /// Starts HQ, sets up what the directory does not hold yet, starts the three lanes on the
    /// LAN and the background sales. `say` hears what it is doing (it takes seconds).
    pub fn start(options: &DemoOptions, say: &mut dyn FnMut(&str)) -> Result<DemoStore, String> {
        let dir = &options.dir;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("kasir-demo")
            .build()
            .map_err(|e| format!("starting the runtime: {e}"))?;
        say("HQ gateway (embedded, SQLite) …");
        let hq_url = runtime.block_on(start_hq(dir, options.hq_port))?;
        say(&format!(
            "HQ at {hq_url} (admin {} / {})",
            HQ_ADMIN.0, HQ_ADMIN.1
        ));
        let (categories, catalog) = demo::store_catalog(options.products, CATALOG_SEED);
        let (hq_store_id, token) =
            runtime.block_on(set_up_hq(&hq_url, dir, &categories, &catalog, say))?;
        let node_options = NodeOptions {
            auth: options.auth,
            // The demo runs every lane of its store in this one process.
            own_core: false,
            ..NodeOptions::default()
        };
        let open = |n: u32| {
            Node::open(dir.join(format!("lane{n}.db")), node_options.clone())
                .map_err(|e| format!("lane {n}: {e}"))
        };
        let till = open(1)?;
        if !till.is_set_up().map_err(|e| e.to_string())? {
            say(&format!(
                "lane 1: the catalog ({} products), opening stock and the demo users …",
                catalog.len()
            ));
            set_up(&till, options.products).map_err(|e| format!("lane 1: {e}"))?;
        }
        let mut lanes = Vec::new();
        for n in 2..=3 {
            let node = open(n)?;
            background_lane(&node, n).map_err(|e| format!("lane {n}: {e}"))?;
            lanes.push(node);
        }
        // The store's HQ credential, entered on every lane before it joins (it would travel
        // from one, but a lane would first try the address of the last start, whose port may
        // differ): lanes 2 and 3 have their manager logged in; on lane 1 she logs in for it.
        let credential = HqCredential {
            url: hq_url.clone(),
            token,
        };
        let connect = |node: &Node| node.execute(Command::ConnectHq(credential.clone()));
        log_in_manager(&till)
            .and_then(|_| connect(&till))
            .and_then(|_| till.execute(Command::Logout))
            .map_err(|e| format!("connecting lane 1 to HQ: {e}"))?;
        for (n, lane) in (2..).zip(&lanes) {
            connect(lane).map_err(|e| format!("connecting lane {n} to HQ: {e}"))?;
        }
        say("the store LAN (3 lanes on loopback) …");
        let everyone: Vec<&Node> = std::iter::once(&till).chain(&lanes).collect();
        let keys = (1..=everyone.len())
            .map(|n| load_or_create_key(&dir.join(format!("lane{n}.key"))))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let members: std::collections::BTreeSet<_> = keys.iter().map(|k| k.public()).collect();
        let mut started = Vec::new();
        for (node, key) in everyone.iter().zip(&keys) {
            let mut config = LanConfig::new(key.clone(), SocketAddr::from(([127, 0, 0, 1], 0)));
            config.members = members.clone();
            config.peers.clone_from(&started);
            runtime
                .block_on(node.join_lan(config))
                .map_err(|e| format!("joining the LAN: {e}"))?;
            let addrs = runtime.block_on(node.lan_addrs());
            started.push(endpoint_addr(key.public(), &addrs));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let sellers = if options.baskets_per_minute > 0.0 {
            lanes
                .iter()
                .map(|l| spawn_seller(l.clone(), options.baskets_per_minute, stop.clone()))
                .collect()
        } else {
            Vec::new()
        };
        Ok(DemoStore {
            till,
            lanes,
            hq_url,
            hq_store_id,
            runtime: Some(runtime),
            stop,
            sellers,
        })
    }

    /// Runs `f` on the demo's runtime (HQ and the LAN run there).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime
            .as_ref()
            .expect("the demo store is running")
            .block_on(f)
    }

    /// Stops the background sales, the lanes (each leaves the LAN and closes its files) and HQ.
    pub fn shutdown(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for s in self.sellers.drain(..) {
            let _ = s.join();
        }
        if let Some(rt) = self.runtime.take() {
            rt.block_on(async {
                for l in std::iter::once(&self.till).chain(&self.lanes) {
                    l.shutdown().await;
                }
            });
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// Sets up lane `n` (2 or 3) of the demo store: its manager, logged in with a shift open.
/// The catalog comes over the LAN from lane 1.
fn background_lane(node: &Node, n: u32) -> kasir_node::Result<()> {
    if !node.is_set_up()? {
        node.execute(Command::SetUp {
            config: Box::new(store_config()?),
            lane: lane_no(n),
            manager: manager(),
        })?;
    }
    log_in_manager(node)?;
    if node.view().shift.is_none() {
        node.execute(Command::OpenShift {
            float: Decimal::from(500_000),
        })?;
    }
    Ok(())
}

/// Sells a random basket every `60 / per_minute` seconds (± half) on `lane` until `stop`.
fn spawn_seller(lane: Node, per_minute: f64, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::from_os_rng();
        let mut last_error = String::new();
        while !stop.load(Ordering::Relaxed) {
            // Timing only, never money.
            let wait = Duration::from_secs(60)
                .div_f64(per_minute)
                .mul_f64(rng.random_range(0.5..1.5));
            let until = std::time::Instant::now() + wait;
            while std::time::Instant::now() < until && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50).min(wait));
            }
            if stop.load(Ordering::Relaxed) {
                break;
            }
            match kasir_node::simulate::sell_random_basket(&lane, rng.random()) {
                Ok(_) => last_error.clear(),
                // The catalog may not have arrived yet; say each new reason once.
                Err(e) if e != last_error => {
                    eprintln!("demo lane: {e}");
                    last_error = e;
                }
                Err(_) => {}
            }
        }
    })
}

/// Opens HQ's database in `dir` and serves the gateway on loopback; returns its address.
async fn start_hq(dir: &Path, port: u16) -> Result<String, String> {
    use kasir_gateway::{AppState, config::Config};
    let config = Config {
        database_url: format!("sqlite://{}", dir.join("hq.db").display()),
        // Three lanes and a person with curl: the production limit of 60 a minute would
        // slow a first upload down.
        rate_limit_per_minute: 6_000,
        ..Config::default()
    };
    let state = AppState::open(config)
        .await
        .map_err(|e| format!("HQ: {e}"))?;
    kasir_gateway::bootstrap_admin(&state, Some(HQ_ADMIN.0.into()), Some(HQ_ADMIN.1.into()))
        .await
        .map_err(|e| format!("HQ: {e}"))?;
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(_) => tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| format!("HQ: no loopback port: {e}"))?,
    };
    let addr = listener.local_addr().map_err(|e| format!("HQ: {e}"))?;
    tokio::spawn(async move {
        if let Err(e) = kasir_gateway::serve(state, listener).await {
            eprintln!("HQ stopped: {e}");
        }
    });
    Ok(format!("http://{addr}"))
}

/// An HQ client logged in as the demo's administrator.
struct HqClient {
    base: String,
    http: reqwest::Client,
    token: String,
}

impl HqClient {
    async fn login(base: &str) -> Result<HqClient, String> {
        let mut c = HqClient {
            base: base.to_string(),
            http: reqwest::Client::new(),
            token: String::new(),
        };
        let (_, v) = c
            .call(
                "POST",
                "/api/auth/login",
                json!({ "username": HQ_ADMIN.0, "password": HQ_ADMIN.1 }),
            )
            .await?;
        c.token = v["access_token"]
            .as_str()
            .ok_or("HQ: no access token in the login's answer")?
            .to_string();
        Ok(c)
    }

    /// Sends a request; the status and the JSON answer (an error in words unless 2xx or 404).
    async fn call(&self, method: &str, path: &str, body: Value) -> Result<(u16, Value), String> {
        let method: reqwest::Method = method.parse().map_err(|_| format!("method {method}"))?;
        let mut r = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if !body.is_null() {
            r = r.json(&body);
        }
        let resp = r.send().await.map_err(|e| format!("HQ {path}: {e}"))?;
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if (200..300).contains(&status) || status == 404 {
            Ok((status, v))
        } else {
            Err(format!("HQ {method} {path}: {status} {v}"))
        }
    }
}

/// Creates the store, the catalog and a device credential at HQ unless `DIR/hq-demo.json`
/// says the first start did. Returns (store id, the lanes' credential).
async fn set_up_hq(
    base: &str,
    dir: &Path,
    categories: &[Category],
    catalog: &[Product],
    say: &mut dyn FnMut(&str),
) -> Result<(u64, String), String> {
    let file = dir.join(HQ_FILE);
    if let Ok(text) = std::fs::read_to_string(&file)
        && let Ok(v) = serde_json::from_str::<Value>(&text)
        && let (Some(id), Some(token)) = (v["store_id"].as_u64(), v["device_token"].as_str())
    {
        return Ok((id, token.to_string()));
    }
    say(&format!(
        "HQ: store {STORE}, {} categories and {} products …",
        categories.len(),
        catalog.len()
    ));
    let hq = HqClient::login(base).await?;
    // Idempotent, for a first start that stopped half-way.
    let (status, store) = hq
        .call("GET", &format!("/api/stores/{STORE}"), Value::Null)
        .await?;
    let store = if status == 404 {
        hq.call(
            "POST",
            "/api/stores",
            json!({ "store_code": STORE, "store_name": "Toko Demo Kasir",
                    "address": "Jl. Merdeka No. 1, Jakarta" }),
        )
        .await?
        .1
    } else {
        store
    };
    let store_id = store["id"].as_u64().ok_or("HQ: the store has no id")?;
    // Categories by name, so that the lanes' ids are HQ's.
    let (_, known) = hq.call("GET", "/api/categories", Value::Null).await?;
    let known: Vec<Value> = known["data"]
        .as_array()
        .or_else(|| known.as_array())
        .cloned()
        .unwrap_or_default();
    let mut ids = std::collections::BTreeMap::new();
    for c in categories {
        let id = match known.iter().find(|k| k["name"] == c.name.as_str()) {
            Some(k) => k["id"].as_u64(),
            None => hq
                .call(
                    "POST",
                    "/api/categories",
                    json!({ "name": c.name, "sort_order": c.sort_order, "is_active": true }),
                )
                .await?
                .1["id"]
                .as_u64(),
        };
        ids.insert(c.id, id.ok_or("HQ: a category has no id")?);
        if ids[&c.id] != c.id {
            return Err(format!(
                "HQ's category {:?} has id {}, the demo catalog's {}: start with an empty directory",
                c.name, ids[&c.id], c.id
            ));
        }
    }
    let rows: Vec<Value> = catalog
        .iter()
        .map(|p| {
            json!({ "sku": p.sku, "name": p.name, "barcode": p.barcode,
                    "category_id": p.category_id,
                    "unit": if p.unit == kasir_node::schema::domain::SaleUnit::Kilogram { "kg" } else { "pcs" },
                    "cost_price": p.cost_price, "suggested_price": p.selling_price })
        })
        .collect();
    hq.call("POST", "/api/products/import", Value::Array(rows))
        .await?;
    let (_, device) = hq
        .call(
            "POST",
            &format!("/api/stores/{store_id}/devices"),
            json!({ "name": "demo lanes" }),
        )
        .await?;
    let token = device["token"]
        .as_str()
        .ok_or("HQ: no device token")?
        .to_string();
    std::fs::write(
        &file,
        json!({ "store_id": store_id, "device_token": token }).to_string(),
    )
    .map_err(|e| format!("{}: {e}", file.display()))?;
    Ok((store_id, token))
}
