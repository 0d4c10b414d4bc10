//! A real gateway on loopback over a fresh database: SQLite in a temporary directory, and
//! MariaDB/MySQL when `KASIR_TEST_MYSQL_URL` names a server (each test gets its own database,
//! dropped afterwards). With the variable set and the server unreachable, tests fail loudly.
#![allow(dead_code)]

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use kasir_gateway::AppState;
use kasir_gateway::config::Config;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::{AssertSqlSafe, Executor};

pub const ENV: &str = "KASIR_TEST_MYSQL_URL";
pub const ADMIN: (&str, &str) = ("root-admin", "Teh-Botol-2026-jkt");

pub struct Gateway {
    pub base: String,
    pub client: Client,
    pub state: AppState,
    pub backend: &'static str,
    _dir: Option<tempfile::TempDir>,
    mysql_drop: Option<(MySqlConnectOptions, String)>,
    server: tokio::task::JoinHandle<()>,
}

/// The backends to run a test on: SQLite always, MySQL when configured.
pub fn backends() -> Vec<&'static str> {
    let mut b = vec!["sqlite"];
    if std::env::var(ENV).is_ok() {
        b.push("mysql");
    } else {
        eprintln!("{ENV} is not set: MySQL half of the test skipped (bash .ci/run sets it)");
    }
    b
}

fn unique(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "kasir_gw_{tag}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000
    )
}

impl Gateway {
    pub async fn start(
        backend: &'static str,
        tag: &str,
        tweak: impl FnOnce(&mut Config),
    ) -> Gateway {
        // Server-side errors show in a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("kasir=info")
            .try_init();
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            rate_limit_per_minute: 100_000,
            login_rate_per_minute: 100_000,
            ..Config::default()
        };
        let mut dir = None;
        let mut mysql_drop = None;
        if backend == "sqlite" {
            let d = tempfile::tempdir().unwrap();
            config.database_url = format!("sqlite://{}", d.path().join("hq.db").display());
            dir = Some(d);
        } else {
            let url = std::env::var(ENV).unwrap();
            let opts = MySqlConnectOptions::from_str(&url)
                .unwrap_or_else(|e| panic!("{ENV}={url} is not a MySQL URL: {e}"));
            let admin = MySqlPoolOptions::new()
                .max_connections(1)
                .connect_with(opts.clone())
                .await
                .unwrap_or_else(|e| {
                    panic!("{ENV} is set but the server at {url} is unreachable: {e}")
                });
            let name = unique(tag);
            admin
                .execute(AssertSqlSafe(format!(
                    "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )))
                .await
                .unwrap();
            admin.close().await;
            let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
            config.database_url = format!("{base}/{name}");
            mysql_drop = Some((opts, name));
        }
        tweak(&mut config);
        let state = AppState::open(config).await.unwrap();
        kasir_gateway::bootstrap_admin(&state, Some(ADMIN.0.into()), Some(ADMIN.1.into()))
            .await
            .unwrap();
        let mut gw = Gateway::serve(state, backend).await;
        gw._dir = dir;
        gw.mysql_drop = mysql_drop;
        gw
    }

    async fn serve(state: AppState, backend: &'static str) -> Gateway {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let s = state.clone();
        let server = tokio::spawn(async move {
            let _ = kasir_gateway::serve(s, listener).await;
        });
        Gateway {
            base,
            client: Client::new(),
            state,
            backend,
            _dir: None,
            mysql_drop: None,
            server,
        }
    }

    /// Another gateway instance over the same database, on its own port.
    pub async fn second_instance(&self) -> Gateway {
        let config = (*self.state.config).clone();
        let state = AppState::open(config).await.unwrap();
        Gateway::serve(state, self.backend).await
    }

    pub async fn stop(self) {
        self.server.abort();
        if let Some((opts, name)) = self.mysql_drop {
            let admin = MySqlPoolOptions::new()
                .max_connections(1)
                .connect_with(opts)
                .await
                .unwrap();
            admin
                .execute(AssertSqlSafe(format!("DROP DATABASE `{name}`")))
                .await
                .unwrap();
        }
    }

    /// Sends a request; returns status and JSON body (`Value::Null` for an empty body).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
        };
        (status, v)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    /// Logs in; returns (access, refresh).
    pub async fn login(&self, user: &str, password: &str) -> (String, String) {
        let (s, v) = self
            .call(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({ "username": user, "password": password })),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        (
            v["access_token"].as_str().unwrap().to_string(),
            v["refresh_token"].as_str().unwrap().to_string(),
        )
    }

    pub async fn admin(&self) -> String {
        self.login(ADMIN.0, ADMIN.1).await.0
    }

    /// A store with `products` products (SKU `P0000`…, barcode `899000000000N`, price 1000),
    /// each with `stock` units received at HQ; returns (store id, device token).
    pub async fn store_with_products(
        &self,
        admin: &str,
        code: &str,
        products: usize,
        stock: i64,
    ) -> (u64, String) {
        let (s, v) = self
            .post(
                "/api/stores",
                admin,
                json!({ "store_code": code, "store_name": format!("Toko {code}") }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let store = v["id"].as_u64().unwrap();
        for i in 0..products {
            let sku = format!("P{i:04}");
            let (s, v) = self
                .post(
                    "/api/products",
                    admin,
                    json!({ "sku": sku, "name": format!("Produk {i}"), "barcode": format!("8990000{i:06}") }),
                )
                .await;
            let id = if s == StatusCode::CREATED {
                v["id"].as_u64().unwrap()
            } else {
                // Created for an earlier store of the same test.
                assert_eq!(s, StatusCode::CONFLICT, "{v}");
                self.product_id_by_sku(&sku).await
            };
            let (s, v) = self
                .put(
                    &format!("/api/stores/{store}/products/{id}"),
                    admin,
                    json!({ "selling_price": 1000 }),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{v}");
            if stock != 0 {
                let (s, v) = self
                    .put(
                        &format!("/api/products/{id}/stock"),
                        admin,
                        json!({ "store_id": store, "quantity": stock, "movement_type": "in", "notes": "opening" }),
                    )
                    .await;
                assert_eq!(s, StatusCode::OK, "{v}");
            }
        }
        let (s, v) = self
            .post(
                &format!("/api/stores/{store}/devices"),
                admin,
                json!({ "name": "lane 1" }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        (store, v["token"].as_str().unwrap().to_string())
    }

    pub async fn product_id_by_sku(&self, sku: &str) -> u64 {
        let id: i64 = kasir_gateway::on_db!(&self.state.db, |pool, B| {
            sqlx::query_scalar("SELECT CAST(id AS SIGNED) FROM products WHERE sku = ?")
                .bind(sku)
                .fetch_one(pool)
                .await
                .unwrap()
        });
        u64::try_from(id).unwrap()
    }

    /// One number from the database (counts in checks).
    pub async fn scalar(&self, sql: &'static str) -> i64 {
        kasir_gateway::on_db!(&self.state.db, |pool, B| {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(pool)
                .await
                .unwrap()
        })
    }
}

/// A sale of `lines` lines (SKU `P{(k + j) % products}`, one unit each at 1000).
pub fn sale(store: &str, n: u64, lines: usize, products: usize) -> Value {
    let id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{store}-{n}").as_bytes(),
    );
    let details: Vec<Value> = (0..lines)
        .map(|j| {
            json!({
                "sku": format!("P{:04}", (usize::try_from(n).unwrap() + j) % products),
                "quantity": 1, "unit_price": 1000, "total_price": 1000
            })
        })
        .collect();
    let total = 1000 * lines as i64;
    json!({
        "sale_id": id.to_string(),
        "transaction_number": format!("{store}-01-{n:06}"),
        "cashier_id": 1,
        "transaction_date": "2026-11-24T03:00:00Z",
        "subtotal": total, "tax_amount": 0, "discount_amount": 0, "total_amount": total,
        "payment_method": "cash", "payment_status": "paid",
        "details": details,
        "payments": [{ "payment_method": "cash", "amount": total }]
    })
}

/// The seed's §7.1 error body, without internals.
pub fn assert_error_body(v: &Value) {
    assert_eq!(v["error"], json!(true), "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert!(v["timestamp"].as_str().is_some(), "{v}");
    assert!(v.get("trace").is_none(), "internals leaked: {v}");
}
