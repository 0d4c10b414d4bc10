//! kasir-gateway: the HQ REST API (axum) over MySQL/MariaDB, with SQLite as embedded default.
//!
//! Request and response bodies are `kasir_schema::wire`; the schema is `schema/sql/hq/` (MySQL)
//! and its SQLite twin. See ARCHITECTURE.md ("HQ gateway") for the boundaries.

pub mod analytics;
pub mod audit;
pub mod auth;
pub mod config;
pub mod customers;
pub mod db;
pub mod download;
pub mod error;
pub mod examples;
pub mod extract;
pub mod fields;
pub mod health;
pub mod import;
pub mod ingest;
pub mod lookups;
pub mod masterdata;
pub mod openapi;
pub mod products;
pub mod ratelimit;
pub mod sessions;
pub mod shifts;
pub mod stores;
pub mod sync;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
pub use kasir_schema as schema;

use crate::auth::{Access, PasswordParams, Tokens};
use crate::config::Config;
use crate::db::Db;
use crate::error::ApiError;
use crate::ratelimit::Limiter;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub tokens: Arc<Tokens>,
    pub config: Arc<Config>,
    pub passwords: PasswordParams,
    pub limiter: Arc<Limiter>,
    pub login_limiter: Arc<Limiter>,
    pub lookups: Arc<lookups::LookupCache>,
}

impl AppState {
    /// Connects, migrates and loads the shared signing key.
    pub async fn open(config: Config) -> Result<AppState, String> {
        config.check()?;
        let db = Db::connect(&config.database_url, config.max_connections).await?;
        let tokens = Tokens::load(
            &db,
            Duration::from_secs(config.access_ttl_secs),
            Duration::from_secs(config.refresh_ttl_secs),
        )
        .await?;
        error::set_debug(config.debug);
        Ok(AppState {
            db,
            tokens: Arc::new(tokens),
            passwords: PasswordParams {
                memory_kib: config.argon2_memory_kib,
                iterations: config.argon2_iterations,
            },
            limiter: Arc::new(Limiter::new(config.rate_limit_per_minute)),
            login_limiter: Arc::new(Limiter::new(config.login_rate_per_minute)),
            lookups: Arc::new(lookups::LookupCache::new(Duration::from_millis(
                config.barcode_cache_ms,
            ))),
            config: Arc::new(config),
        })
    }
}

/// Who may call a route. The router checks it before the handler runs (a handler checks only
/// what depends on the request: the store it touches), and the OpenAPI document says it; one
/// table, `api!` below, is both (a test walks every route with every role against it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// No credential needed (the handler may take one from the body, like a refresh token).
    Public,
    /// A credential whose role (or device) has this access ([`Principal::allows`]).
    Can(auth::Access),
}

impl Who {
    /// Whether `principal` passes.
    pub fn admits(self, principal: &auth::Principal) -> bool {
        match self {
            Who::Public => true,
            Who::Can(a) => principal.allows(a),
        }
    }

    /// "public", or the roles (and devices) that pass, as the OpenAPI document lists them.
    pub fn describe(self) -> String {
        let Who::Can(access) = self else {
            return "public".into();
        };
        let mut who: Vec<&str> = kasir_schema::roles::Role::ALL
            .iter()
            .filter(|r| {
                auth::Principal::User {
                    id: 0,
                    role: **r,
                    store_id: None,
                    session: String::new(),
                }
                .allows(access)
            })
            .map(|r| r.as_str())
            .collect();
        if (auth::Principal::Device { id: 0, store_id: 0 }).allows(access) {
            who.push("a store's device");
        }
        format!("{} ({})", who.join(", "), access.describe())
    }
}

/// One route: what `GET /api/openapi.json` says of it.
#[derive(Debug, Clone, Copy)]
pub struct RouteDoc {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    /// Who may call it; store-scoped credentials reach their own store only.
    pub access: Who,
    /// The request and answer, from the handler's own types.
    pub document: fn(&mut schemars::SchemaGenerator) -> openapi::Operation,
}

/// Every route, written once: the router, its access checks and the OpenAPI document all come
/// from this list.
macro_rules! api {
    ($( $method:ident $path:literal => $handler:path, $who:expr, $summary:literal; )*) => {
        /// Every route of the API, in the order the OpenAPI document lists them.
        pub const ROUTES: &[RouteDoc] = &[
            $( RouteDoc {
                method: stringify!($method),
                path: $path,
                summary: $summary,
                access: $who,
                document: |g| openapi::Documented::document(&$handler, g),
            }, )*
        ];

        fn routes() -> Router<AppState> {
            Router::new()
                $( .route(
                    $path,
                    axum::routing::$method($handler)
                        .route_layer(middleware::from_fn(|req: Request, next: Next| guard($who, req, next))),
                ) )*
        }
    };
}

/// The router's access check: 401 without a valid credential, 403 when the table says no, all
/// before the body is read.
async fn guard(who: Who, req: Request, next: Next) -> Response {
    if who == Who::Public {
        return next.run(req).await;
    }
    let Some(state) = req.extensions().get::<AppState>().cloned() else {
        return ApiError::internal("the router's state is missing").into_response();
    };
    let (mut parts, body) = req.into_parts();
    use axum::extract::FromRequestParts;
    match auth::Principal::from_request_parts(&mut parts, &state).await {
        Ok(p) if who.admits(&p) => next.run(Request::from_parts(parts, body)).await,
        Ok(_) => {
            let Who::Can(access) = who else {
                unreachable!("a public route admits everyone")
            };
            ApiError::forbidden(format!("Your role may not {}", access.describe())).into_response()
        }
        Err(e) => e.into_response(),
    }
}

api! {
    get "/health" => health::health, Who::Public, "Database and upload-queue checks; 503 when unhealthy (seed §10.1).";
    get "/api/openapi.json" => openapi::document, Who::Public, "This document.";
    post "/api/auth/login" => sessions::login, Who::Public, "Log in with username and password (seed §3.1).";
    post "/api/auth/refresh" => sessions::refresh, Who::Public, "Spend a refresh token for a new pair; reusing a spent one revokes the session.";
    post "/api/auth/logout" => sessions::logout, Who::Can(Access::ReadCatalog), "End the session of the access token.";
    post "/api/sync/upload" => sync::upload, Who::Can(Access::Sync), "Store sales, customers, stock movements, loyalty entries and Z reports exactly once (seed §3.2).";
    get "/api/sync/download/{store_id}" => download::download, Who::Can(Access::Sync), "What changed at HQ for the store: since last_sync (seed §3.2), or exactly and in pages by cursor.";
    get "/api/sync/status/{store_id}" => sync::status, Who::Can(Access::Sync), "Last successful upload and recent errors (seed §3.2).";
    get "/api/products" => products::list_products, Who::Can(Access::ReadCatalog), "Products of a store with price and stock; category_id, search, page, per_page (seed §3.3).";
    post "/api/products" => products::create_product, Who::Can(Access::MasterData), "Create a product with the seed's columns (master data).";
    post "/api/products/import" => import::import_products, Who::Can(Access::MasterData), "Create or change many products in one request: a JSON array or CSV with a header row, matched by SKU; all or nothing, errors named by row and field.";
    get "/api/products/{id}" => products::get_product, Who::Can(Access::ReadCatalog), "A product's master data.";
    get "/api/products/barcode/{barcode}" => products::product_by_barcode, Who::Can(Access::ReadCatalog), "One product by barcode in a store (seed §3.3).";
    put "/api/products/{id}/stock" => products::update_stock, Who::Can(Access::AdjustStock), "An HQ stock movement for a store, counted once by movement_id (seed §3.3).";
    get "/api/stores" => masterdata::list_stores, Who::Can(Access::ReadCatalog), "Stores and when each last uploaded.";
    post "/api/stores" => stores::create_store, Who::Can(Access::MasterData), "Create a store with the seed's columns (master data).";
    get "/api/stores/{id}" => stores::get_store, Who::Can(Access::ReadCatalog), "One store, by id or code.";
    put "/api/stores/{id}" => stores::update_store, Who::Can(Access::MasterData), "Change a store's fields (not its code); is_active closes or reopens it.";
    put "/api/products/{id}" => products::update_product, Who::Can(Access::MasterData), "Change the given fields of a product; null clears an optional one.";
    delete "/api/products/{id}" => products::delete_product, Who::Can(Access::MasterData), "Deactivate a product (sales keep it; stores stop seeing it).";
    get "/api/categories" => masterdata::list_categories, Who::Can(Access::ReadCatalog), "Product categories.";
    post "/api/categories" => masterdata::create_category, Who::Can(Access::MasterData), "Create a category (master data).";
    put "/api/categories/{id}" => masterdata::update_category, Who::Can(Access::MasterData), "Change a category's fields; null clears description or parent_id.";
    get "/api/customers" => customers::list_customers, Who::Can(Access::ReadCatalog), "Customers, searched by name, phone, e-mail or code, with loyalty and visits from every store.";
    post "/api/customers" => customers::create_customer, Who::Can(Access::ManageCustomers), "Create a customer; it reaches every store with the download.";
    get "/api/customers/{id}" => customers::get_customer, Who::Can(Access::ReadCatalog), "One customer by id or customer_uuid, with loyalty, purchases and visits per store.";
    put "/api/customers/{id}" => customers::update_customer, Who::Can(Access::ManageCustomers), "Change a customer's fields; null clears an optional one.";
    get "/api/users" => masterdata::list_users, Who::Can(Access::ManageUsers), "HQ and store accounts.";
    post "/api/users" => masterdata::create_user, Who::Can(Access::ManageUsers), "Create an account (a strong password is required).";
    put "/api/users/{id}" => masterdata::update_user, Who::Can(Access::ManageUsers), "Change an account; a new password, deactivation, role or store change ends its sessions.";
    post "/api/webhooks" => webhooks::create_endpoint, Who::Can(Access::MasterData), "Register a webhook endpoint for stock.low and/or sync.failed (secret shown once).";
    delete "/api/stores/{id}/devices/{device_id}" => masterdata::revoke_device, Who::Can(Access::ManageDevices), "Revoke a device credential.";
    post "/api/stores/{id}/devices" => stores::create_device, Who::Can(Access::ManageDevices), "A device credential for one of the store's tills (token shown once).";
    put "/api/stores/{id}/products/{product_id}" => products::set_store_product, Who::Can(Access::MasterData), "A store's price and stock limits for a product.";
    get "/api/transactions" => analytics::transactions, Who::Can(Access::Analytics), "Transactions by store, date range (from, to), cashier_id, number.";
    get "/api/shift-reports" => shifts::list, Who::Can(Access::Analytics), "Z reports of the stores' lanes (each shift once): store_id, from, to (closed_at), lane_no.";
    get "/api/analytics/sales" => analytics::sales, Who::Can(Access::Analytics), "Sales totals grouped by day, hour (UTC) or store.";
    get "/api/analytics/payment-methods" => analytics::payment_methods, Who::Can(Access::Analytics), "Payment-method mix: payments and amount per method.";
    get "/api/analytics/top-products" => analytics::top_products, Who::Can(Access::Analytics), "Products by revenue in a date range.";
    get "/api/analytics/low-stock" => analytics::low_stock, Who::Can(Access::Analytics), "Products at or below their minimum stock, across stores.";
}

/// Responses at least this large are compressed (gzip or zstd) for a client that accepts it.
pub const COMPRESS_ABOVE_BYTES: u16 = 1024;

/// The whole API with its middleware. Request bodies may be sent gzip- or zstd-compressed
/// (`Content-Encoding`); the body limit counts the bytes after decompression, so a small
/// compressed body that inflates past it is a 413. Large responses are compressed when the
/// client's `Accept-Encoding` allows.
pub fn router(state: AppState) -> Router {
    use tower_http::compression::{CompressionLayer, predicate::SizeAbove};
    use tower_http::decompression::RequestDecompressionLayer;
    let limit = state.config.body_limit_bytes;
    routes()
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
        })
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .layer(DefaultBodyLimit::max(limit))
        .layer(
            RequestDecompressionLayer::new()
                .no_br()
                .no_deflate()
                .gzip(true)
                .zstd(true),
        )
        .layer(middleware::from_fn(known_encoding))
        .layer(
            CompressionLayer::new()
                .no_br()
                .no_deflate()
                .gzip(true)
                .zstd(true)
                .compress_when(SizeAbove::new(COMPRESS_ABOVE_BYTES)),
        )
        .with_state(state)
}

/// A request body in an encoding the gateway does not read is a 415 with the §7.1 body.
async fn known_encoding(req: Request, next: Next) -> Response {
    let encoding = req
        .headers()
        .get(axum::http::header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("gzip" | "zstd" | "identity") => next.run(req).await,
        Some(other) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Encoding {other:?} is not supported: send gzip, zstd or none"),
        )
        .into_response(),
    }
}

/// Per client address and per bearer token; login attempts have their own, stricter budget.
async fn rate_limit(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // The route's access check (`guard`) runs after routing and reads the state from here.
    req.extensions_mut().insert(state.clone());
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "local".into());
    let path = req.uri().path();
    if path == "/health" {
        return next.run(req).await;
    }
    if path == "/api/auth/login"
        && let Err(retry) = state.login_limiter.hit(&format!("login:{ip}"))
    {
        tracing::warn!(target: "kasir::security", %ip, "login rate limit hit");
        return ApiError::too_many(retry).into_response();
    }
    if let Err(retry) = state.limiter.hit(&format!("ip:{ip}")) {
        return ApiError::too_many(retry).into_response();
    }
    let token = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(auth::sha256_hex);
    if let Some(t) = token
        && let Err(retry) = state.limiter.hit(&format!("token:{t}"))
    {
        return ApiError::too_many(retry).into_response();
    }
    next.run(req).await
}

/// On an empty database, creates the first administrator from `KASIR_ADMIN_USERNAME` and
/// `KASIR_ADMIN_PASSWORD`. Returns what to tell the operator.
pub async fn bootstrap_admin(
    state: &AppState,
    username: Option<String>,
    password: Option<String>,
) -> Result<Option<String>, String> {
    let users = sessions::count_users(&state.db)
        .await
        .map_err(|e| e.message)?;
    if users > 0 {
        return Ok(None);
    }
    let (Some(username), Some(password)) = (username, password) else {
        return Err(
            "the database has no users: set KASIR_ADMIN_USERNAME and KASIR_ADMIN_PASSWORD to create the first administrator"
                .into(),
        );
    };
    auth::check_password_strength(&password, &username)
        .map_err(|e| format!("KASIR_ADMIN_PASSWORD {e}"))?;
    sessions::create_user(
        state,
        &username,
        &format!("{username}@localhost"),
        "Administrator",
        kasir_schema::roles::Role::SuperAdmin,
        None,
        &password,
    )
    .await
    .map_err(|e| e.message)?;
    Ok(Some(format!(
        "created administrator {username:?}; log in with POST /api/auth/login {{\"username\": \"{username}\", \"password\": \"…\"}}"
    )))
}

/// Serves until ctrl-c, with this instance's webhook delivery worker and change watcher.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let worker =
        webhooks::spawn_worker(&state, Duration::from_millis(state.config.webhook_poll_ms));
    let watcher = lookups::spawn_watcher(
        state.db.clone(),
        state.lookups.clone(),
        Duration::from_millis(state.config.change_poll_ms),
    );
    let result = serve_api(state, listener).await;
    worker.abort();
    watcher.abort();
    result
}

async fn serve_api(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // Small JSON answers go out at once (no Nagle delay behind the previous answer's ACK).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY: {e}");
        }
    });
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
