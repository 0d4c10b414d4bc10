//! kasir-tests: end-to-end tests across crates (real iroh on loopback, real gateway, real
//! MariaDB). Shared helpers live here; the tests themselves in `tests/tests/`:
//! `hq_forwarding.rs` (lanes in this process) and `leader_kill.rs` (lane processes, `kill -9`).

use std::path::PathBuf;

use kasir_gateway::AppState;
use kasir_gateway::config::Config;
use serde_json::{Value, json};

pub use kasir_schema as schema;

pub const ADMIN: (&str, &str) = ("hq-admin", "Kopi-Susu-2026-x");
pub const STORE: &str = "JKT-01";

/// An HQ gateway on a free loopback port.
#[derive(Debug)]
pub struct Hq {
    pub base: String,
    pub http: reqwest::Client,
    pub admin: String,
    pub store_id: u64,
    _dir: tempfile::TempDir,
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
                sqlx::query("DROP DATABASE IF EXISTS kasir_e2e")
                    .execute(&admin)
                    .await
                    .unwrap();
                sqlx::query(
                    "CREATE DATABASE kasir_e2e CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
                )
                .execute(&admin)
                .await
                .unwrap();
                format!("{server}/kasir_e2e")
            }
            Err(_) => format!("sqlite://{}", dir.path().join("hq.db").display()),
        };
        let state = AppState::open(Config {
            database_url: url,
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            rate_limit_per_minute: u32::MAX,
            ..Config::default()
        })
        .await
        .expect("gateway");
        kasir_gateway::bootstrap_admin(&state, Some(ADMIN.0.into()), Some(ADMIN.1.into()))
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(kasir_gateway::serve(state, listener));
        let http = reqwest::Client::new();
        let mut hq = Hq {
            base,
            http,
            admin: String::new(),
            store_id: 0,
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
