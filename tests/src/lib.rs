//! kasir-tests: end-to-end tests across crates (real iroh on loopback, real gateway, real
//! MariaDB). Shared helpers live here; the tests themselves in `tests/tests/`:
//! `hq_forwarding.rs` and `hq_outage.rs` (lanes in this process), `leader_kill.rs` (lane
//! processes, `kill -9`). Benchmarks: `examples/forward_bench.rs`, `forward_latency.rs`.

use std::path::PathBuf;

use kasir_gateway::AppState;
use kasir_gateway::config::Config;
use serde_json::{Value, json};

pub use kasir_schema as schema;

pub const ADMIN: (&str, &str) = ("hq-admin", "Kopi-Susu-2026-x");
pub const STORE: &str = "JKT-01";

/// An HQ gateway on a free loopback port, on a runtime of its own so that a test can take it
/// down completely (every connection with it) and bring it back on the same address.
#[derive(Debug)]
pub struct Hq {
    pub base: String,
    pub http: reqwest::Client,
    pub admin: String,
    pub store_id: u64,
    config: Config,
    addr: std::net::SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
    _dir: tempfile::TempDir,
}

impl Drop for Hq {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Opens the gateway on `config` and serves it at `addr` on a new runtime; returns the
/// runtime and the address it listens on.
async fn serve(
    config: Config,
    addr: std::net::SocketAddr,
) -> (tokio::runtime::Runtime, std::net::SocketAddr) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .thread_name("hq-gateway")
        .build()
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    rt.spawn(async move {
        let state = AppState::open(config).await.expect("gateway");
        kasir_gateway::bootstrap_admin(&state, Some(ADMIN.0.into()), Some(ADMIN.1.into()))
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let _ = tx.send(listener.local_addr().unwrap());
        let _ = kasir_gateway::serve(state, listener).await;
    });
    let addr = rx.await.expect("the gateway starts");
    (rt, addr)
}

impl Hq {
    pub async fn start() -> Hq {
        let dir = tempfile::tempdir().unwrap();
        let url = match std::env::var("KASIR_TEST_MYSQL_URL") {
            Ok(u) => {
                let server = u
                    .rsplit_once('/')
                    .map_or(u.as_str(), |(b, _)| b)
                    .to_string();
                let admin = sqlx::MySqlPool::connect(&server)
                    .await
                    .expect("KASIR_TEST_MYSQL_URL is set: the MariaDB server must be up");
                // One database per gateway: tests of one binary run at once.
                static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let name = format!(
                    "kasir_e2e_{}_{}",
                    std::process::id(),
                    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                );
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name}"
                )))
                .execute(&admin)
                .await
                .unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )))
                .execute(&admin)
                .await
                .unwrap();
                format!("{server}/{name}")
            }
            Err(_) => format!("sqlite://{}", dir.path().join("hq.db").display()),
        };
        let config = Config {
            database_url: url,
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            rate_limit_per_minute: u32::MAX,
            ..Config::default()
        };
        let (runtime, addr) = serve(config.clone(), "127.0.0.1:0".parse().unwrap()).await;
        let mut hq = Hq {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            admin: String::new(),
            store_id: 0,
            config,
            addr,
            runtime: Some(runtime),
            _dir: dir,
        };
        let (_, v) = hq
            .call(
                "POST",
                "/api/auth/login",
                None,
                json!({ "username": ADMIN.0, "password": ADMIN.1 }),
            )
            .await;
        hq.admin = v["access_token"].as_str().unwrap().to_string();
        let (_, v) = hq
            .admin_call(
                "POST",
                "/api/stores",
                json!({ "store_code": STORE, "store_name": "Toko Jakarta" }),
            )
            .await;
        hq.store_id = v["id"].as_u64().unwrap();
        hq
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (u16, Value) {
        let mut r = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if !body.is_null() {
            r = r.json(&body);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn admin_call(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let (s, v) = self
            .call(method, path, Some(&self.admin.clone()), body)
            .await;
        assert!((200..300).contains(&s), "{method} {path}: {s} {v}");
        (s, v)
    }

    /// Takes HQ down: the gateway stops and every connection with it closes.
    pub fn stop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }

    /// Brings HQ back on the same address and database.
    pub async fn restart(&mut self) {
        let (runtime, _) = serve(self.config.clone(), self.addr).await;
        self.runtime = Some(runtime);
    }

    /// A device credential for the store: (device id, token).
    pub async fn device(&self) -> (u64, String) {
        let (_, v) = self
            .admin_call(
                "POST",
                &format!("/api/stores/{}/devices", self.store_id),
                json!({ "name": "lanes" }),
            )
            .await;
        (
            v["id"].as_u64().unwrap(),
            v["token"].as_str().unwrap().to_string(),
        )
    }

    /// The store's transaction numbers at HQ, sorted.
    pub async fn numbers(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut page = 1;
        loop {
            let (_, v) = self
                .admin_call(
                    "GET",
                    &format!(
                        "/api/transactions?store_id={}&per_page=100&page={page}",
                        self.store_id
                    ),
                    Value::Null,
                )
                .await;
            let rows = v["data"].as_array().cloned().unwrap_or_default();
            if rows.is_empty() {
                break;
            }
            out.extend(
                rows.iter()
                    .map(|t| t["transaction_number"].as_str().unwrap().to_string()),
            );
            page += 1;
        }
        out.sort();
        out
    }
}

/// The `kasir-node` binary of this build (built now if this test run did not build it).
pub fn kasir_node_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>")
        .to_path_buf();
    let bin = dir.join("kasir-node");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let profile = dir.file_name().and_then(|p| p.to_str()).unwrap_or("debug");
        let mut c = std::process::Command::new(cargo);
        c.args(["build", "-p", "kasir-node", "--bin", "kasir-node"]);
        if profile == "release" {
            c.arg("--release");
        }
        let status = c.status().expect("cargo build runs");
        assert!(status.success(), "building kasir-node failed");
    }
    bin
}

/// Polls `check` every 100 ms until it holds; panics after `limit`. Returns how long it took.
pub async fn wait_for(
    what: &str,
    limit: std::time::Duration,
    mut check: impl AsyncFnMut() -> bool,
) -> std::time::Duration {
    let start = std::time::Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    start.elapsed()
}

// ---------------------------------------------------------------- lanes of the test store

use kasir_node::schema::Decimal;
use kasir_node::schema::domain::Product;
use kasir_node::schema::payment::Tender;
use kasir_node::{Command, Node, NodeOptions};

impl Hq {
    /// HQ's catalog: the products the lanes sell (HQ refuses lines of SKUs it does not know).
    pub async fn import_catalog(&self, products: &[Product]) {
        let rows: Vec<Value> = products
            .iter()
            .map(|p| json!({ "sku": p.sku, "name": p.name, "suggested_price": p.selling_price }))
            .collect();
        self.admin_call("POST", "/api/products/import", Value::Array(rows))
            .await;
    }
}

/// Opens lane `n`'s database in `dir` (set up already or not).
pub fn open_lane(dir: &std::path::Path, n: u32) -> Node {
    open_lane_with(dir, n, NodeOptions::default().env)
}

/// [`open_lane`] with the clock and randomness of `env`.
pub fn open_lane_with(dir: &std::path::Path, n: u32, env: kasir_core::Env) -> Node {
    Node::open(
        dir.join(format!("lane{n}.db")),
        NodeOptions {
            auth: kasir_node::types::AuthParams::fast_for_tests(),
            env,
            // Several lanes share a test's process: none takes a core of its own.
            own_core: false,
            ..NodeOptions::default()
        },
    )
    .unwrap()
}

/// The manager (maya/9999) logged in, a shift open.
pub fn login(node: &Node) {
    node.execute(Command::Login {
        username: "maya".into(),
        pin: "9999".into(),
    })
    .unwrap();
    if node.view().shift.is_none() {
        node.execute(Command::OpenShift {
            float: Decimal::from(100_000),
        })
        .unwrap();
    }
}

/// Lane `n` of store [`STORE`], set up with its manager, logged in, a shift open.
pub fn lane(dir: &std::path::Path, n: u32) -> Node {
    lane_with(dir, n, NodeOptions::default().env)
}

/// [`lane`] with the clock and randomness of `env`.
pub fn lane_with(dir: &std::path::Path, n: u32, env: kasir_core::Env) -> Node {
    use kasir_node::schema::roles::Role;
    use kasir_node::schema::txn_number::LaneNo;
    let node = open_lane_with(dir, n, env);
    node.execute(Command::SetUp {
        config: Box::new(kasir_node::types::default_store_config(STORE, "Toko Jakarta").unwrap()),
        lane: LaneNo::new(n).unwrap(),
        manager: kasir_node::types::NewUser {
            username: "maya".into(),
            full_name: "Maya Manager".into(),
            role: Role::Manager,
            pin: "9999".into(),
        },
    })
    .unwrap();
    login(&node);
    node
}

/// Runs a blocking call of the node API off the runtime's threads.
pub async fn on<T: Send + 'static>(node: &Node, f: impl FnOnce(&Node) -> T + Send + 'static) -> T {
    let node = node.clone();
    tokio::task::spawn_blocking(move || f(&node)).await.unwrap()
}

/// Sells one unit of product `P0000nn` (`nn` from `k`) for cash; returns the number.
pub async fn sell(node: &Node, k: usize) -> String {
    on(node, move |n| {
        n.execute(Command::AddSku {
            sku: format!("P{:06}", 1 + k % 19),
            quantity: Decimal::ONE,
        })
        .unwrap();
        n.pay(vec![Tender::cash(Decimal::from(10_000_000))])
            .unwrap()
            .number
    })
    .await
}

/// Records not yet confirmed by HQ on each lane.
pub async fn backlogs(lanes: &[&Node]) -> Vec<i64> {
    let mut out = Vec::new();
    for l in lanes {
        out.push(on(l, |n| n.hq_backlog().unwrap()).await);
    }
    out
}
