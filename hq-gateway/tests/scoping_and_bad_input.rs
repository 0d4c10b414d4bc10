//! The gateway over HTTP on loopback, on SQLite and (with `KASIR_TEST_MYSQL_URL`) MariaDB:
//! Store scoping, bad input answered with a 4xx and the error body on every route, the OpenAPI document listing every route, health when the database is gone.

mod common;

use common::{Gateway, assert_error_body, backends, sale};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_credential_cannot_touch_another_store() {
    for backend in backends() {
        let gw = Gateway::start(backend, "scope", |_| {}).await;
        let admin = gw.admin().await;
        let (a, device_a) = gw.store_with_products(&admin, "AAA01", 2, 5).await;
        let (b, device_b) = gw.store_with_products(&admin, "BBB01", 2, 5).await;
        let pid = gw.product_id_by_sku("P0000").await;
        // Every route that takes a store, with store B's ids and store A's device.
        let foreign: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, format!("/api/sync/download/{b}"), None),
            (Method::GET, "/api/sync/download/BBB01".into(), None),
            (Method::GET, format!("/api/sync/status/{b}"), None),
            (
                Method::POST,
                "/api/sync/upload".into(),
                Some(
                    json!({ "store_id": "BBB01", "data": { "transactions": [sale("BBB01", 1, 1, 2)] } }),
                ),
            ),
            (Method::GET, format!("/api/products?store_id={b}"), None),
            (
                Method::GET,
                format!("/api/products/barcode/8990000000000?store_id={b}"),
                None,
            ),
            (
                Method::PUT,
                format!("/api/products/{pid}/stock"),
                Some(json!({ "store_id": b, "quantity": 1, "movement_type": "in" })),
            ),
            (Method::DELETE, format!("/api/stores/{b}/devices/1"), None),
            (
                Method::POST,
                format!("/api/stores/{b}/devices"),
                Some(json!({ "name": "x" })),
            ),
            (
                Method::PUT,
                format!("/api/stores/{b}/products/{pid}"),
                Some(json!({ "selling_price": 1 })),
            ),
        ];
        // Store A's manager (sync, stock, devices and analytics rights, but only in store A).
        kasir_gateway::sessions::create_user(
            &gw.state,
            "mgr-aaa",
            "mgr-aaa@example.com",
            "Manager AAA",
            kasir_gateway::schema::roles::Role::StoreManager,
            Some(a),
            "Es-Cendol-2026-aa",
        )
        .await
        .unwrap();
        let (manager_a, _) = gw.login("mgr-aaa", "Es-Cendol-2026-aa").await;
        let mut foreign = foreign;
        foreign.extend([
            (Method::GET, format!("/api/transactions?store_id={b}"), None),
            (
                Method::GET,
                format!("/api/analytics/sales?store_id={b}"),
                None,
            ),
            (
                Method::GET,
                format!("/api/analytics/low-stock?store_id={b}"),
                None,
            ),
        ]);
        for credential in [&device_a, &manager_a] {
            for (m, path, body) in &foreign {
                let (s, v) = gw
                    .call(m.clone(), path, Some(credential), body.clone())
                    .await;
                assert_eq!(s, StatusCode::FORBIDDEN, "{backend} {m} {path}: {v}");
                assert_error_body(&v);
            }
        }
        // Nothing of store B changed, and store A's own routes work.
        assert_eq!(gw.scalar("SELECT COUNT(*) FROM transactions").await, 0);
        let (s, _) = gw
            .get(
                &format!("/api/products/barcode/8990000000000?store_id={a}"),
                &device_a,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = gw.get(&format!("/api/sync/status/{b}"), &device_b).await;
        assert_eq!(s, StatusCode::OK);
        gw.stop().await;
    }
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_4xx_with_the_error_body_never_a_5xx() {
    for backend in backends() {
        let gw = Gateway::start(backend, "bad", |c| c.body_limit_bytes = 64 * 1024).await;
        let admin = gw.admin().await;
        let (store, device) = gw.store_with_products(&admin, "DPS04", 2, 5).await;
        let cases: Vec<(Method, String, Option<Value>, StatusCode)> = vec![
            // wrong types, missing and unknown fields
            (
                Method::POST,
                "/api/sync/upload".into(),
                Some(json!({ "store_id": 5, "data": {} })),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                Method::POST,
                "/api/sync/upload".into(),
                Some(json!({ "data": {} })),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                Method::POST,
                "/api/sync/upload".into(),
                Some(json!({ "store_id": "DPS04", "data": {}, "admin": true })),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                Method::POST,
                "/api/sync/upload".into(),
                Some(
                    json!({ "store_id": "DPS04", "data": { "transactions": [{ "sale_id": "not-a-uuid" }] } }),
                ),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                Method::PUT,
                "/api/products/1/stock".into(),
                Some(json!({ "store_id": store, "quantity": "lots", "movement_type": "in" })),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                Method::PUT,
                "/api/products/1/stock".into(),
                Some(json!({ "store_id": store, "quantity": 1, "movement_type": "teleport" })),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                Method::PUT,
                "/api/products/1/stock".into(),
                Some(json!({ "store_id": store, "quantity": 0.0001, "movement_type": "in" })),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                Method::PUT,
                "/api/products/1/stock".into(),
                Some(json!({ "store_id": store, "quantity": 1e30, "movement_type": "in" })),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                Method::PUT,
                "/api/products/abc/stock".into(),
                Some(json!({ "store_id": store, "quantity": 1, "movement_type": "in" })),
                StatusCode::NOT_FOUND,
            ),
            (
                Method::PUT,
                "/api/products/99999999999999999999/stock".into(),
                Some(json!({ "store_id": store, "quantity": 1, "movement_type": "in" })),
                StatusCode::NOT_FOUND,
            ),
            (
                Method::POST,
                "/api/products".into(),
                Some(json!({ "sku": "", "name": "x" })),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                Method::POST,
                "/api/products".into(),
                Some(json!({ "sku": "Ü-ñ-字", "name": "Kopi 字 ☕", "id": 7 })),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                Method::POST,
                "/api/stores".into(),
                Some(json!({ "store_code": "x y", "store_name": "n" })),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                Method::GET,
                format!("/api/products?store_id={store}&per_page=0"),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                Method::GET,
                format!("/api/products?store_id={store}&per_page=abc"),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                Method::GET,
                "/api/products?store_id=-1".into(),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                Method::GET,
                format!("/api/products?store_id={store}&colour=red"),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                Method::GET,
                "/api/products".into(),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                Method::GET,
                format!("/api/sync/download/{store}?last_sync=yesterday"),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                Method::GET,
                "/api/sync/status/NOPE".into(),
                None,
                StatusCode::NOT_FOUND,
            ),
            (
                Method::GET,
                "/api/nothing-here".into(),
                None,
                StatusCode::NOT_FOUND,
            ),
            (
                Method::DELETE,
                "/api/sync/upload".into(),
                None,
                StatusCode::METHOD_NOT_ALLOWED,
            ),
        ];
        for (m, path, body, want) in cases {
            let (s, v) = gw.call(m.clone(), &path, Some(&admin), body.clone()).await;
            assert_eq!(s, want, "{backend} {m} {path} {body:?}: {v}");
            assert_error_body(&v);
        }
        // Missing and unknown fields are named in `errors`.
        let (_, v) = gw
            .post("/api/sync/upload", &admin, json!({ "data": {} }))
            .await;
        assert!(v["errors"]["store_id"].is_array(), "{v}");
        let (_, v) = gw
            .post(
                "/api/sync/upload",
                &admin,
                json!({ "store_id": "DPS04", "data": { "orders": [] } }),
            )
            .await;
        assert!(v["errors"]["data.orders"].is_array(), "{v}");
        // SQL metacharacters and unicode in a search are just text.
        for q in [
            "%27%20OR%201%3D1%20--",
            "%25",
            "_",
            "%E5%AD%97%E2%98%95",
            "%5C",
        ] {
            let (s, v) = gw
                .get(
                    &format!("/api/products?store_id={store}&search={q}"),
                    &device,
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{backend} {q}: {v}");
            assert_eq!(v["meta"]["total"], 0, "{q}: {v}");
        }
        let (s, v) = gw
            .get(
                &format!("/api/products?store_id={store}&search=Produk%201"),
                &device,
            )
            .await;
        assert_eq!(
            (s, v["meta"]["total"].clone()),
            (StatusCode::OK, json!(1)),
            "{v}"
        );
        // Broken JSON, no JSON content type, a huge body, no credentials.
        let raw = |body: &'static str, ct: Option<&'static str>| {
            let mut r = gw
                .client
                .post(format!("{}/api/sync/upload", gw.base))
                .bearer_auth(&admin)
                .body(body);
            if let Some(ct) = ct {
                r = r.header("content-type", ct);
            }
            r
        };
        for (req, want) in [
            (
                raw("{\"store_id\": ", Some("application/json")),
                StatusCode::BAD_REQUEST,
            ),
            (
                raw("store_id=1", Some("application/x-www-form-urlencoded")),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            (raw("{}", None), StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ] {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), want);
            assert_error_body(&r.json().await.unwrap());
        }
        let huge = format!(
            "{{\"store_id\": \"{}\", \"data\": {{}}}}",
            "x".repeat(100 * 1024)
        );
        let r = gw
            .client
            .post(format!("{}/api/sync/upload", gw.base))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(huge)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_error_body(&r.json().await.unwrap());
        let (s, v) = gw
            .call(
                Method::GET,
                &format!("/api/products?store_id={store}"),
                None,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_error_body(&v);
        // Health is fine throughout.
        let (s, v) = gw.call(Method::GET, "/health", None, None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["status"], "healthy");
        assert_eq!(v["checks"]["database"]["status"], "ok");
        gw.stop().await;
    }
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_garbage_with_a_4xx_and_the_error_body() {
    for backend in backends() {
        let gw = Gateway::start(backend, "garbage", |c| c.body_limit_bytes = 64 * 1024).await;
        let admin = gw.admin().await;
        let (_, device) = gw.store_with_products(&admin, "GRB01", 1, 1).await;
        let bodies = [
            json!({ "zzz_unknown": 1 }),
            json!([1, 2, 3]),
            json!("'; DROP TABLE users; --"),
            json!({ "store_id": { "nested": "字☕\u{0}" }, "quantity": [], "url": 5, "name": null }),
            json!(null),
        ];
        for r in kasir_gateway::ROUTES {
            // Public reads take nothing to be wrong about; logout takes no body (and would end
            // the session the loop uses).
            if (r.access == kasir_gateway::Who::Public && r.method == "get")
                || r.path == "/api/auth/logout"
            {
                continue;
            }
            let path = r
                .path
                .replace("{store_id}", "GRB01")
                .replace("{id}", "1")
                .replace("{product_id}", "1")
                .replace("{barcode}", "%27%20OR%201%3D1")
                .replace("{device_id}", "1");
            let m = Method::from_bytes(r.method.to_uppercase().as_bytes()).unwrap();
            for token in [&admin, &device] {
                if matches!(r.method, "post" | "put") {
                    for body in &bodies {
                        let (s, v) = gw
                            .call(m.clone(), &path, Some(token), Some(body.clone()))
                            .await;
                        assert!(
                            s.is_client_error(),
                            "{backend} {} {path} {body}: {s} {v}",
                            r.method
                        );
                        assert_error_body(&v);
                    }
                } else {
                    let q = if path.contains('?') { "&" } else { "?" };
                    let (s, v) = gw
                        .call(
                            m.clone(),
                            &format!("{path}{q}zzz=%FF%FE&store_id=x%00"),
                            Some(token),
                            None,
                        )
                        .await;
                    // Reads that take no parameters may ignore them; none may fail inside.
                    assert!(
                        !s.is_server_error(),
                        "{backend} {} {path}: {s} {v}",
                        r.method
                    );
                    if !s.is_success() {
                        assert_error_body(&v);
                    }
                }
            }
        }
        gw.stop().await;
    }
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_route_and_every_route_answers() {
    let gw = Gateway::start("sqlite", "openapi", |_| {}).await;
    let (s, doc) = gw.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    for r in kasir_gateway::ROUTES {
        let op = &doc["paths"][r.path][r.method];
        assert!(op["summary"].is_string(), "{} {} missing", r.method, r.path);
        // Bodies and answers are described, not "object".
        if matches!(r.method, "post" | "put") && r.path != "/api/auth/logout" {
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            // A named schema, or (an import) an array of rows whose fields are listed.
            assert!(
                schema["$ref"].is_string() || schema["items"]["properties"]["sku"].is_object(),
                "{} {}: body {schema}",
                r.method,
                r.path
            );
        }
        let ok = op["responses"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(code, _)| code.starts_with('2'))
            .map(|(_, r)| r["content"]["application/json"]["schema"].clone())
            .unwrap_or_default();
        assert!(
            ok["$ref"].is_string()
                || ok["items"]["$ref"].is_string()
                || r.path == "/api/openapi.json",
            "{} {}: answer {ok}",
            r.method,
            r.path
        );
        // Routed: without credentials it is never "no such route".
        let path = r
            .path
            .replace("{store_id}", "1")
            .replace("{id}", "1")
            .replace("{product_id}", "1")
            .replace("{barcode}", "1")
            .replace("{device_id}", "1");
        let m = Method::from_bytes(r.method.to_uppercase().as_bytes()).unwrap();
        let (s, v) = gw.call(m, &path, None, None).await;
        assert_ne!(v["message"], "route not found", "{} {}", r.method, r.path);
        assert!(s.as_u16() < 500, "{} {}: {s}", r.method, r.path);
    }
    gw.stop().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_503_when_the_database_is_gone() {
    let gw = Gateway::start("sqlite", "health", |_| {}).await;
    assert_eq!(
        gw.call(Method::GET, "/health", None, None).await.0,
        StatusCode::OK
    );
    match &gw.state.db {
        kasir_gateway::db::Db::Sqlite(p) => p.close().await,
        kasir_gateway::db::Db::MySql(p) => p.close().await,
    }
    let (s, v) = gw.call(Method::GET, "/health", None, None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["status"], "unhealthy");
    assert_eq!(v["checks"]["database"]["status"], "error");
    // Other routes say the database is unavailable (503), with the error body.
    let (s, v) = gw
        .call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({ "username": "a", "password": "b" })),
        )
        .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_error_body(&v);
    gw.stop().await;
}

/// The access column of `api!` is the check that runs: every route, called by every role and
/// by a store's device, answers 403 exactly when the table says that credential may not call
/// it (whatever the body; paths name the credential's own store).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_role_as_the_table_says() {
    use kasir_gateway::auth::Principal;
    use kasir_schema::roles::Role;
    for backend in backends() {
        let gw = Gateway::start(backend, "matrix", |c| {
            c.rate_limit_per_minute = 1_000_000;
            c.login_rate_per_minute = 10_000;
        })
        .await;
        let admin = gw.admin().await;
        let (store, device) = gw.store_with_products(&admin, "MTX-01", 1, 10).await;
        let pid = gw.product_id_by_sku("P0000").await;
        let (_, cat) = gw
            .post("/api/categories", &admin, json!({ "name": "Matrix" }))
            .await;
        let (_, cust) = gw
            .post(
                "/api/customers",
                &admin,
                json!({ "name": "Ani", "preferred_store_id": store }),
            )
            .await;
        let mut creds: Vec<(String, String, Principal)> = vec![(
            "device".into(),
            device,
            Principal::Device {
                id: 0,
                store_id: store,
            },
        )];
        for role in Role::ALL {
            let name = format!("u-{}", role.as_str().replace('_', "-"));
            let scoped = role.is_store_scoped();
            let (s, v) = gw
                .post(
                    "/api/users",
                    &admin,
                    json!({ "username": name, "email": format!("{name}@toko.co.id"), "full_name": name,
                            "role": role.as_str(), "store_id": if scoped { Some(store) } else { None },
                            "password": "Lumpia-Semarang-2026" }),
                )
                .await;
            if role == Role::Manager {
                // A till's role, not an HQ account's.
                assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{backend} {name}: {v}");
                continue;
            }
            assert_eq!(s, StatusCode::CREATED, "{backend} {name}: {v}");
            let (token, _) = gw.login(&name, "Lumpia-Semarang-2026").await;
            let principal = Principal::User {
                id: 0,
                role,
                store_id: scoped.then_some(store),
                session: String::new(),
            };
            creds.push((name, token, principal));
        }
        // Logging out ends the credential, so it comes last.
        let mut routes: Vec<_> = kasir_gateway::ROUTES.iter().collect();
        routes.sort_by_key(|r| r.path == "/api/auth/logout");
        let mut checked = 0;
        for r in routes {
            let path = r
                .path
                .replace("{store_id}", &store.to_string())
                .replace("{product_id}", &pid.to_string())
                .replace("{device_id}", "999999")
                .replace("{barcode}", "8990000000000");
            let path = if path.starts_with("/api/products/") {
                path.replace("{id}", &pid.to_string())
            } else if path.starts_with("/api/categories/") {
                path.replace("{id}", &cat["id"].to_string())
            } else if path.starts_with("/api/customers/") {
                path.replace("{id}", &cust["id"].to_string())
            } else if path.starts_with("/api/users/") {
                path.replace("{id}", "1")
            } else {
                path.replace("{id}", &store.to_string())
            };
            let method = Method::from_bytes(r.method.to_uppercase().as_bytes()).unwrap();
            let body = matches!(r.method, "post" | "put").then(|| json!({}));
            for (name, token, principal) in &creds {
                let (s, v) = gw
                    .call(method.clone(), &path, Some(token), body.clone())
                    .await;
                let allowed = r.access.admits(principal);
                assert_eq!(
                    s == StatusCode::FORBIDDEN,
                    !allowed,
                    "{backend}: {} {path} as {name}: {s} {v} (the table says {})",
                    r.method,
                    r.access.describe()
                );
                // Every credential here is valid (a public route may still refuse one it
                // reads itself: refresh takes a refresh or access token, not a device's).
                if r.access != kasir_gateway::Who::Public {
                    assert_ne!(
                        s,
                        StatusCode::UNAUTHORIZED,
                        "{backend}: {} {path} as {name}",
                        r.method
                    );
                }
                checked += 1;
            }
        }
        assert_eq!(checked, kasir_gateway::ROUTES.len() * creds.len());
        assert_eq!(creds.len(), 7, "six HQ roles and a device");
        gw.stop().await;
    }
}
