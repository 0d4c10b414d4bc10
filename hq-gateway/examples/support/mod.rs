//! Set-up shared by the gateway benchmarks: a scratch database, a gateway serving it on
//! loopback, an administrator's token and a store.
// Each example uses part of it.
#![allow(dead_code)]

use kasir_gateway::AppState;
use kasir_gateway::config::Config;
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Executor};

const ADMIN: (&str, &str) = ("bench-admin", "Kopi-Susu-2026-x");

/// `mysql://…/kasir_bench` on the test server, unless `--database-url` says otherwise.
pub fn default_url() -> String {
    std::env::var("KASIR_TEST_MYSQL_URL")
        .map(|u| {
            format!(
                "{}/kasir_bench",
                u.rsplit_once('/').map_or(u.as_str(), |(b, _)| b)
            )
        })
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/kasir_bench".into())
}

/// The `--flag value` pairs of the command line. `--help` prints `usage` and exits; a flag
/// without its value, or one not in `usage`, exits with the usage and status 2.
pub fn flags(usage: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if k == "--help" || k == "-h" {
            println!("{usage}");
            std::process::exit(0);
        }
        let known = usage
            .split_whitespace()
            .any(|w| w.trim_matches(['[', ']']) == k);
        match it.next() {
            Some(v) if known => out.push((k, v)),
            Some(_) => fail(&format!("unknown argument {k}"), usage),
            None => fail(&format!("{k} needs a value"), usage),
        }
    }
    out
}

/// A flag's number, or exit with the usage.
pub fn num<T: std::str::FromStr>(flag: &str, value: &str, usage: &str) -> T {
    value
        .parse()
        .unwrap_or_else(|_| fail(&format!("{flag} needs a number, not {value:?}"), usage))
}

fn fail(message: &str, usage: &str) -> ! {
    eprintln!("{message}\n{usage}");
    std::process::exit(2)
}

#[derive(Debug)]
pub struct Bench {
    pub state: AppState,
    pub base: String,
    pub http: reqwest::Client,
    pub admin: String,
    pub store_id: u64,
}

impl Bench {
    /// Empties (MySQL: drops and creates; SQLite: deletes the file) the database, starts a gateway with `config`'s
    /// settings on it, creates store BEN01 and logs the administrator in.
    pub async fn start(config: Config) -> Bench {
        let url = config.database_url.clone();
        if let Some((server, name)) = url.rsplit_once('/')
            && url.starts_with("mysql://")
        {
            let admin = sqlx::MySqlPool::connect(server)
                .await
                .expect("MySQL server");
            admin
                .execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
                .await
                .unwrap();
            admin
                .execute(AssertSqlSafe(format!(
                    "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )))
                .await
                .unwrap();
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or(path);
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
        }
        let state = AppState::open(Config {
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            ..config
        })
        .await
        .expect("gateway");
        kasir_gateway::bootstrap_admin(&state, Some(ADMIN.0.into()), Some(ADMIN.1.into()))
            .await
            .unwrap();
        let base = serve(state.clone()).await;
        let http = reqwest::Client::new();
        let r: Value = http
            .post(format!("{base}/api/auth/login"))
            .json(&json!({ "username": ADMIN.0, "password": ADMIN.1 }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let admin = r["access_token"].as_str().unwrap().to_string();
        let mut b = Bench {
            state,
            base,
            http,
            admin,
            store_id: 0,
        };
        let store = b
            .post(
                "/api/stores",
                &b.admin.clone(),
                json!({ "store_code": "BEN01", "store_name": "Bench" }),
            )
            .await;
        b.store_id = store["id"].as_u64().unwrap();
        b
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// A device credential for store BEN01.
    pub async fn device(&self) -> String {
        let v = self
            .post(
                &format!("/api/stores/{}/devices", self.store_id),
                &self.admin,
                json!({ "name": "bench" }),
            )
            .await;
        v["token"].as_str().unwrap().to_string()
    }
}

/// Serves a gateway on a free loopback port; returns its base URL.
pub async fn serve(state: AppState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(kasir_gateway::serve(state, listener));
    base
}
