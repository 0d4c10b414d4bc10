//! The gateway over HTTP on loopback, on SQLite and (with `KASIR_TEST_MYSQL_URL`) MariaDB:
//! auth (rotation, reuse, logout), exactly-once uploads (also 8 at once, overlapping), stock
//! following movements once, HQ adjustments downloaded by the store, store scoping, bad input.

mod common;

use common::{Gateway, backends, sale};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn assert_error_body(v: &Value) {
    assert_eq!(v["error"], json!(true), "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert!(v["timestamp"].as_str().is_some(), "{v}");
    assert!(v.get("trace").is_none(), "internals leaked: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_refresh_rotation_reuse_and_logout() {
    for backend in backends() {
        let gw = Gateway::start(backend, "auth", |_| {}).await;
        // Wrong password and unknown user look the same.
        for (u, p) in [
            (common::ADMIN.0, "nope-nope-nope-1"),
            ("ghost", "whatever-123456"),
        ] {
            let (s, v) = gw
                .call(
                    Method::POST,
                    "/api/auth/login",
                    None,
                    Some(json!({ "username": u, "password": p })),
                )
                .await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{backend}");
            assert_error_body(&v);
            assert_eq!(v["message"], "Invalid username or password");
        }
        let (s, v) = gw
            .call(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({ "username": common::ADMIN.0, "password": common::ADMIN.1 })),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_in"], 3600);
        assert_eq!(v["user"]["role"], "super_admin");
        let access = v["access_token"].as_str().unwrap().to_string();
        let r1 = v["refresh_token"].as_str().unwrap().to_string();
        let (s, _) = gw.get("/api/sync/status/1", &access).await;
        assert_eq!(
            s,
            StatusCode::NOT_FOUND,
            "{backend}: no store 1 yet, but authenticated"
        );

        // Rotation: r1 → (a2, r2); r1 is spent.
        let (s, v) = gw
            .call(
                Method::POST,
                "/api/auth/refresh",
                None,
                Some(json!({ "refresh_token": r1 })),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let a2 = v["access_token"].as_str().unwrap().to_string();
        let r2 = v["refresh_token"].as_str().unwrap().to_string();
        assert_ne!(r1, r2);
        // The seed's form: the refresh token as bearer.
        let (s, v) = gw
            .call(Method::POST, "/api/auth/refresh", Some(&r2), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let a3 = v["access_token"].as_str().unwrap().to_string();
        let r3 = v["refresh_token"].as_str().unwrap().to_string();
        assert_eq!(
            gw.get("/api/products?store_id=1", &a3).await.0,
            StatusCode::OK
        );
        // Reusing the spent r1 revokes the whole family: a2, a3 and r3 stop working.
        let (s, v) = gw
            .call(
                Method::POST,
                "/api/auth/refresh",
                None,
                Some(json!({ "refresh_token": r1 })),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
        assert_error_body(&v);
        for a in [&a2, &a3, &access] {
            assert_eq!(
                gw.get("/api/products?store_id=1", a).await.0,
                StatusCode::UNAUTHORIZED
            );
        }
        let (s, _) = gw
            .call(
                Method::POST,
                "/api/auth/refresh",
                None,
                Some(json!({ "refresh_token": r3 })),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);

        // Logout revokes the session of the token it is called with.
        let (a, _) = gw.login(common::ADMIN.0, common::ADMIN.1).await;
        let (s, v) = gw
            .call(Method::POST, "/api/auth/logout", Some(&a), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["message"], "Successfully logged out");
        assert_eq!(
            gw.get("/api/products?store_id=1", &a).await.0,
            StatusCode::UNAUTHORIZED
        );
        // A forged or garbled token.
        let forged = format!("{}0", &a[..a.len() - 1]);
        assert_eq!(
            gw.get("/api/products?store_id=1", &forged).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            gw.get("/api/products?store_id=1", "kd1.nothing").await.0,
            StatusCode::UNAUTHORIZED
        );
        gw.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_store_each_sale_once_and_stock_follows() {
    for backend in backends() {
        let gw = Gateway::start(backend, "upload", |_| {}).await;
        let admin = gw.admin().await;
        let (store, device) = gw.store_with_products(&admin, "JKT01", 10, 100).await;
        let sales: Vec<Value> = (1..=20).map(|n| sale("JKT01", n, 3, 10)).collect();
        let body = json!({ "store_id": "JKT01", "data": { "transactions": sales } });
        let (s, v) = gw.post("/api/sync/upload", &device, body.clone()).await;
        assert_eq!(s, StatusCode::OK, "{backend}: {v}");
        assert_eq!(v["success"], true);
        assert_eq!(v["processed"]["transactions"]["success"], 20);
        assert!(
            v["processed"]["transactions"]["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["status"] == "stored")
        );
        // A replay: same results as duplicates, nothing changes.
        let (s, v) = gw.post("/api/sync/upload", &device, body).await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            v["processed"]["transactions"]["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["status"] == "duplicate"),
            "{v}"
        );
        // The same id with different content is a conflict; the same content with numbers
        // written differently (1000 vs 1000.00) is the same sale.
        let mut changed = sale("JKT01", 1, 3, 10);
        changed["notes"] = json!("edited");
        let mut respelled = sale("JKT01", 2, 3, 10);
        respelled["total_amount"] = json!(3000.00);
        // Forwarded by another lane after a leader change: its own row id, the same sale.
        respelled["local_id"] = json!(777);
        let (_, v) = gw
            .post(
                "/api/sync/upload",
                &device,
                json!({ "store_id": "JKT01", "data": { "transactions": [changed, respelled] } }),
            )
            .await;
        let results = &v["processed"]["transactions"]["results"];
        assert_eq!(results[0]["status"], "conflict", "{v}");
        assert_eq!(results[1]["status"], "duplicate", "{v}");
        assert_eq!(v["success"], false);
        // An unknown SKU is refused for that sale only.
        let mut bad = sale("JKT01", 99, 1, 10);
        bad["details"][0]["sku"] = json!("NOPE'; DROP TABLE products; --");
        let (_, v) = gw
            .post(
                "/api/sync/upload",
                &device,
                json!({ "store_id": "JKT01", "data": { "transactions": [bad, sale("JKT01", 21, 1, 10)] } }),
            )
            .await;
        assert_eq!(
            v["processed"]["transactions"]["results"][0]["status"], "invalid",
            "{v}"
        );
        assert_eq!(
            v["processed"]["transactions"]["results"][1]["status"], "stored",
            "{v}"
        );

        assert_eq!(gw.scalar("SELECT COUNT(*) FROM transactions").await, 21);
        assert_eq!(
            gw.scalar("SELECT COUNT(*) FROM transaction_details").await,
            61
        );
        // 10 opening receipts + one movement per sale line.
        assert_eq!(
            gw.scalar("SELECT COUNT(*) FROM stock_movements").await,
            10 + 61
        );
        // Stock = 100 each − units sold; HQ's figure equals the sum of its movements.
        let (s, v) = gw
            .get(
                &format!("/api/products?store_id={store}&per_page=50"),
                &device,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let total: i64 = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                p["stock_quantity"]
                    .as_i64()
                    .unwrap_or_else(|| p["stock_quantity"].to_string().parse().unwrap())
            })
            .sum();
        assert_eq!(total, 1000 - 61, "{backend}");
        assert_eq!(v["meta"]["total"], 10);
        // One sync log per upload (4 uploads).
        assert_eq!(
            gw.scalar("SELECT COUNT(*) FROM sync_logs WHERE sync_type = 'upload'")
                .await,
            4
        );
        assert!(
            gw.scalar("SELECT COUNT(*) FROM audit_logs WHERE action = 'sync.upload'")
                .await
                >= 2
        );
        gw.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_parallel_overlapping_uploads_store_each_sale_once() {
    for backend in backends() {
        let gw = Gateway::start(backend, "parallel", |c| c.max_connections = 8).await;
        let admin = gw.admin().await;
        let (store, device) = gw.store_with_products(&admin, "BDG02", 20, 1000).await;
        // Upload k carries sales 25k+1 ..= 25k+100: every sale is in up to four uploads.
        let mut tasks = Vec::new();
        for k in 0..8u64 {
            let client = gw.client.clone();
            let url = format!("{}/api/sync/upload", gw.base);
            let device = device.clone();
            tasks.push(tokio::spawn(async move {
                let sales: Vec<Value> = (25 * k + 1..=25 * k + 100)
                    .map(|n| sale("BDG02", n, 2, 20))
                    .collect();
                let r = client
                    .post(url)
                    .bearer_auth(device)
                    .json(&json!({ "store_id": "BDG02", "data": { "transactions": sales } }))
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let v: Value = r.json().await.unwrap();
                assert_eq!(status, StatusCode::OK, "{v}");
                assert_eq!(v["processed"]["transactions"]["failed"], 0, "{v}");
                v
            }));
        }
        let mut stored = 0;
        for t in tasks {
            let v = t.await.unwrap();
            stored += v["processed"]["transactions"]["results"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["status"] == "stored")
                .count();
        }
        let distinct = 25 * 7 + 100;
        assert_eq!(
            stored, distinct,
            "{backend}: each sale stored by exactly one upload"
        );
        assert_eq!(
            gw.scalar("SELECT COUNT(*) FROM transactions").await,
            distinct as i64
        );
        assert_eq!(
            gw.scalar("SELECT COUNT(*) FROM transaction_details").await,
            2 * distinct as i64
        );
        assert_eq!(
            gw.scalar("SELECT COUNT(*) FROM stock_movements WHERE reference_type = 'sale'")
                .await,
            2 * distinct as i64
        );
        let (_, v) = gw
            .get(
                &format!("/api/products?store_id={store}&per_page=50"),
                &device,
            )
            .await;
        let total: i64 = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["stock_quantity"].as_i64().unwrap())
            .sum();
        assert_eq!(total, 20 * 1000 - 2 * distinct as i64, "{backend}");
        gw.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hq_adjustment_counts_once_and_the_store_downloads_it() {
    for backend in backends() {
        let gw = Gateway::start(backend, "adjust", |_| {}).await;
        let admin = gw.admin().await;
        let (store, device) = gw.store_with_products(&admin, "SBY03", 3, 10).await;
        let pid = gw.product_id_by_sku("P0001").await;
        let movement = "0192f1a2-0000-7000-8000-000000000001";
        let body = json!({ "store_id": store, "quantity": -4, "movement_type": "adjustment",
                           "notes": "rusak", "movement_id": movement });
        for _ in 0..3 {
            let (s, v) = gw
                .put(&format!("/api/products/{pid}/stock"), &admin, body.clone())
                .await;
            assert_eq!(s, StatusCode::OK, "{backend}: {v}");
            assert_eq!(v["data"]["stock_quantity"], 6, "{v}");
        }
        let mut other = body.clone();
        other["quantity"] = json!(-5);
        let (s, v) = gw
            .put(&format!("/api/products/{pid}/stock"), &admin, other)
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{v}");
        assert_error_body(&v);
        // The device downloads the movement (and the opening receipts), with the settings.
        let (s, v) = gw
            .get(&format!("/api/sync/download/{store}"), &device)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let moves = v["data"]["stock_movements"].as_array().unwrap();
        assert_eq!(
            moves
                .iter()
                .filter(|m| m["movement_id"] == movement)
                .count(),
            1,
            "{v}"
        );
        assert_eq!(v["data"]["settings"]["store_code"], "SBY03");
        assert_eq!(v["data"]["products"].as_array().unwrap().len(), 3);
        // Incremental: nothing new since then except within the overlap window, and only the
        // tables asked for.
        let last = v["last_sync"].as_str().unwrap().to_string();
        let (s, v) = gw
            .get(
                &format!(
                    "/api/sync/download/SBY03?last_sync={}&tables=settings,stock_movements",
                    urlenc(&last)
                ),
                &device,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert!(v["data"].get("products").is_none());
        assert!(v["data"]["settings"].is_object());
        let (s, v) = gw
            .get(
                &format!("/api/sync/download/{store}?tables=orders"),
                &device,
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert_error_body(&v);
        // A device may not adjust stock.
        let (s, _) = gw
            .put(&format!("/api/products/{pid}/stock"), &device, body)
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        gw.stop().await;
    }
}

fn urlenc(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

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
        kasir_gateway::handlers::create_user(
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
async fn over_the_rate_limit_is_429_with_retry_after() {
    let gw = Gateway::start("sqlite", "rate", |c| {
        c.rate_limit_per_minute = 5;
        c.login_rate_per_minute = 2;
    })
    .await;
    let body = json!({ "username": "ghost", "password": "whatever-123456" });
    for _ in 0..2 {
        let (s, _) = gw
            .call(Method::POST, "/api/auth/login", None, Some(body.clone()))
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let r = gw
        .client
        .post(format!("{}/api/auth/login", gw.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let v: Value = r.json().await.unwrap();
    assert_error_body(&v);
    assert_eq!(v["message"], "Too many requests");
    // Any other request counts against the address (and the token): 5 a minute here, two
    // of them spent on the logins above (the refused third never reached this budget).
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(gw.get("/api/products?store_id=1", "kd1.someone").await.0);
    }
    assert_eq!(
        answers,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    // Health is never limited.
    for _ in 0..10 {
        assert_eq!(
            gw.call(Method::GET, "/health", None, None).await.0,
            StatusCode::OK
        );
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateway_instances_share_tokens_and_revocations() {
    for backend in backends() {
        let a = Gateway::start(backend, "multi", |_| {}).await;
        // A second instance on the same database (its own caches and limits).
        let b = a.second_instance().await;
        let (access, refresh) = a.login(common::ADMIN.0, common::ADMIN.1).await;
        assert_eq!(
            b.get("/api/products?store_id=1", &access).await.0,
            StatusCode::OK,
            "{backend}"
        );
        // Rotation on B, reuse of the spent token on A: the family is revoked everywhere.
        let (s, v) = b
            .call(
                Method::POST,
                "/api/auth/refresh",
                None,
                Some(json!({ "refresh_token": refresh })),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let a2 = v["access_token"].as_str().unwrap().to_string();
        assert_eq!(
            a.get("/api/products?store_id=1", &a2).await.0,
            StatusCode::OK
        );
        let (s, _) = a
            .call(
                Method::POST,
                "/api/auth/refresh",
                None,
                Some(json!({ "refresh_token": refresh })),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        // B may have the session cached for up to a second.
        tokio::time::sleep(
            kasir_gateway::auth::SESSION_CACHE + std::time::Duration::from_millis(100),
        )
        .await;
        for gw in [&a, &b] {
            assert_eq!(
                gw.get("/api/products?store_id=1", &a2).await.0,
                StatusCode::UNAUTHORIZED,
                "{backend}"
            );
        }
        b.stop().await;
        a.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_barcode_lookup_sees_writes_through_the_same_instance_at_once() {
    for backend in backends() {
        let gw = Gateway::start(backend, "cache", |c| c.barcode_cache_ms = 60_000).await;
        let admin = gw.admin().await;
        let (store, device) = gw.store_with_products(&admin, "MKS05", 2, 10).await;
        let path = format!("/api/products/barcode/8990000000001?store_id={store}");
        let (s, v) = gw.get(&path, &device).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["data"]["stock_quantity"], 10);
        // A sale uploaded, an HQ adjustment, a price change: each visible on the next lookup.
        let (s, _) = gw
            .post("/api/sync/upload", &device, json!({ "store_id": "MKS05", "data": { "transactions": [sale("MKS05", 1, 1, 2)] } }))
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            gw.get(&path, &device).await.1["data"]["stock_quantity"],
            9,
            "{backend}"
        );
        let pid = gw.product_id_by_sku("P0001").await;
        gw.put(
            &format!("/api/products/{pid}/stock"),
            &admin,
            json!({ "store_id": store, "quantity": 5, "movement_type": "in" }),
        )
        .await;
        assert_eq!(gw.get(&path, &device).await.1["data"]["stock_quantity"], 14);
        gw.put(
            &format!("/api/stores/{store}/products/{pid}"),
            &admin,
            json!({ "selling_price": 1750 }),
        )
        .await;
        assert_eq!(
            gw.get(&path, &device).await.1["data"]["selling_price"],
            1750
        );
        // An unknown barcode is a 404, also when asked again; a product created since is found.
        let missing = format!("/api/products/barcode/8990000999999?store_id={store}");
        assert_eq!(gw.get(&missing, &device).await.0, StatusCode::NOT_FOUND);
        let (s, v) = gw
            .post(
                "/api/products",
                &admin,
                json!({ "sku": "NEW-1", "name": "Baru", "barcode": "8990000999999" }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let id = v["id"].as_u64().unwrap();
        gw.put(
            &format!("/api/stores/{store}/products/{id}"),
            &admin,
            json!({ "selling_price": 500 }),
        )
        .await;
        assert_eq!(gw.get(&missing, &device).await.0, StatusCode::OK);
        gw.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_route_and_every_route_answers() {
    let gw = Gateway::start("sqlite", "openapi", |_| {}).await;
    let (s, doc) = gw.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.0.3");
    for r in kasir_gateway::ROUTES {
        let op = &doc["paths"][r.path][r.method];
        assert!(op["summary"].is_string(), "{} {} missing", r.method, r.path);
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
async fn analytics_add_up_and_a_store_manager_sees_only_their_store() {
    use kasir_gateway::schema::roles::Role;
    for backend in backends() {
        let gw = Gateway::start(backend, "analytics", |_| {}).await;
        let admin = gw.admin().await;
        let (a, device_a) = gw.store_with_products(&admin, "ANA01", 4, 3).await;
        let (b, device_b) = gw.store_with_products(&admin, "ANB02", 4, 3).await;
        for (code, device, n) in [("ANA01", &device_a, 6u64), ("ANB02", &device_b, 2)] {
            let sales: Vec<Value> = (1..=n).map(|k| sale(code, k, 2, 4)).collect();
            let (s, v) = gw
                .post(
                    "/api/sync/upload",
                    device,
                    json!({ "store_id": code, "data": { "transactions": sales } }),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{v}");
        }
        kasir_gateway::handlers::create_user(
            &gw.state,
            "mgr-a",
            "mgr-a@example.com",
            "Manager A",
            Role::StoreManager,
            Some(a),
            "Nasi-Goreng-2026-a",
        )
        .await
        .unwrap();
        let (mgr, _) = gw.login("mgr-a", "Nasi-Goreng-2026-a").await;
        let range = "from=2026-11-01T00:00:00Z&to=2026-11-30T00:00:00Z";
        // HQ-wide: by store.
        let (s, v) = gw
            .get(&format!("/api/analytics/sales?group=store&{range}"), &admin)
            .await;
        assert_eq!(s, StatusCode::OK, "{backend}: {v}");
        assert_eq!(
            v,
            json!([
                { "key": "ANA01", "transactions": 6, "total_amount": 12000, "tax_amount": 0 },
                { "key": "ANB02", "transactions": 2, "total_amount": 4000, "tax_amount": 0 }
            ]),
            "{backend}"
        );
        let (_, v) = gw
            .get(
                &format!("/api/analytics/sales?group=hour&store_id={a}&{range}"),
                &admin,
            )
            .await;
        assert_eq!(v[0]["key"], "2026-11-24T03", "{v}");
        let (_, v) = gw
            .get(&format!("/api/analytics/payment-methods?{range}"), &admin)
            .await;
        assert_eq!(
            v,
            json!([{ "payment_method": "cash", "payments": 8, "amount": 16000 }]),
            "{backend}"
        );
        let (_, v) = gw
            .get(
                &format!("/api/analytics/top-products?store_id={a}&limit=2&{range}"),
                &admin,
            )
            .await;
        assert_eq!(v.as_array().unwrap().len(), 2, "{v}");
        // Store A sold P0000 ×2, P0001 ×3, P0002 ×4, P0003 ×3 of 3 each: three at or below 0,
        // the oversold one first.
        let (_, v) = gw
            .get(&format!("/api/analytics/low-stock?store_id={a}"), &admin)
            .await;
        assert_eq!(v.as_array().unwrap().len(), 3, "{backend}: {v}");
        assert_eq!(
            (v[0]["sku"].clone(), v[0]["stock_quantity"].clone()),
            (json!("P0002"), json!(-1))
        );
        let (_, v) = gw
            .get(
                &format!("/api/transactions?store_id={a}&number=ANA01-01-000003&{range}"),
                &admin,
            )
            .await;
        assert_eq!(v["meta"]["total"], 1, "{v}");
        assert_eq!(v["data"][0]["total_amount"], 2000);
        // The store manager of A: their store by default, never B's.
        let (s, v) = gw
            .get(&format!("/api/analytics/sales?group=store&{range}"), &mgr)
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
        assert_eq!(v[0]["key"], "ANA01");
        for path in [
            format!("/api/analytics/sales?store_id={b}"),
            format!("/api/transactions?store_id={b}"),
            format!("/api/analytics/low-stock?store_id={b}"),
            format!("/api/analytics/top-products?store_id={b}"),
            format!("/api/analytics/payment-methods?store_id={b}"),
        ] {
            assert_eq!(gw.get(&path, &mgr).await.0, StatusCode::FORBIDDEN, "{path}");
        }
        // Devices have no analytics at all.
        assert_eq!(
            gw.get("/api/analytics/sales", &device_a).await.0,
            StatusCode::FORBIDDEN
        );
        let (s, v) = gw
            .get(
                "/api/analytics/sales?from=2026-12-01T00:00:00Z&to=2026-11-01T00:00:00Z",
                &admin,
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        gw.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_data_users_categories_products_and_device_revocation() {
    for backend in backends() {
        let gw = Gateway::start(backend, "master", |_| {}).await;
        let admin = gw.admin().await;
        let (store, device) = gw.store_with_products(&admin, "MDS01", 2, 5).await;
        // Users: a store manager needs a store and a strong password; names are unique.
        let user = |name: &str, role: &str, store_id: Option<u64>, pw: &str| {
            json!({ "username": name, "email": format!("{name}@example.com"), "full_name": name,
                    "role": role, "store_id": store_id, "password": pw })
        };
        for (body, field) in [
            (
                user("m1", "store_manager", None, "Sate-Ayam-2026-ok"),
                "store_id",
            ),
            (
                user("m1", "admin", Some(store), "Sate-Ayam-2026-ok"),
                "store_id",
            ),
            (
                user("m1", "store_manager", Some(store), "short1"),
                "password",
            ),
            (
                user("m 1", "store_manager", Some(store), "Sate-Ayam-2026-ok"),
                "username",
            ),
            (
                user("m1", "owner", Some(store), "Sate-Ayam-2026-ok"),
                "role",
            ),
        ] {
            let (s, v) = gw.post("/api/users", &admin, body).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{backend}: {v}");
            assert!(v["errors"][field].is_array(), "{field}: {v}");
        }
        let (s, v) = gw
            .post(
                "/api/users",
                &admin,
                user("m1", "store_manager", Some(store), "Sate-Ayam-2026-ok"),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{backend}: {v}");
        let (s, _) = gw
            .post(
                "/api/users",
                &admin,
                user("m1", "store_manager", Some(store), "Sate-Ayam-2026-ok"),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        let (mgr, _) = gw.login("m1", "Sate-Ayam-2026-ok").await;
        assert_eq!(
            gw.post(
                "/api/users",
                &mgr,
                user("m2", "cashier", Some(store), "Sate-Ayam-2026-ok")
            )
            .await
            .0,
            StatusCode::FORBIDDEN
        );
        let (_, v) = gw.get("/api/users", &admin).await;
        assert_eq!(v.as_array().unwrap().len(), 2, "{v}");
        // Categories.
        let (s, v) = gw
            .post("/api/categories", &admin, json!({ "name": "Minuman" }))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let (s, _) = gw
            .post(
                "/api/categories",
                &admin,
                json!({ "name": "Teh", "parent_id": 999 }),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            gw.get("/api/categories", &device).await.1[0]["name"],
            "Minuman"
        );
        // A renamed product reaches the store's next download; a deleted one leaves lookups.
        let (_, first) = gw
            .get(
                &format!("/api/sync/download/{store}?tables=products"),
                &device,
            )
            .await;
        let last = first["last_sync"].as_str().unwrap().replace('+', "%2B");
        let pid = gw.product_id_by_sku("P0001").await;
        let (s, v) = gw
            .put(
                &format!("/api/products/{pid}"),
                &admin,
                json!({ "name": "Kopi Tubruk" }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (_, v) = gw
            .get(
                &format!("/api/sync/download/{store}?tables=products&last_sync={last}"),
                &device,
            )
            .await;
        assert!(
            v["data"]["products"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "Kopi Tubruk"),
            "{v}"
        );
        let (s, _) = gw
            .call(
                Method::DELETE,
                &format!("/api/products/{pid}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = gw
            .get(
                &format!("/api/products/barcode/8990000000001?store_id={store}"),
                &device,
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(
            gw.put("/api/products/999999", &admin, json!({ "name": "x" }))
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        // Stores: the manager sees their own.
        assert_eq!(
            gw.get("/api/stores", &mgr)
                .await
                .1
                .as_array()
                .unwrap()
                .len(),
            1
        );
        // Revoking the device stops its token.
        let (_, v) = gw
            .post(
                &format!("/api/stores/{store}/devices"),
                &admin,
                json!({ "name": "lane 2" }),
            )
            .await;
        let (id2, token2) = (
            v["id"].as_u64().unwrap(),
            v["token"].as_str().unwrap().to_string(),
        );
        assert_eq!(
            gw.get(&format!("/api/sync/status/{store}"), &token2)
                .await
                .0,
            StatusCode::OK
        );
        let (s, _) = gw
            .call(
                Method::DELETE,
                &format!("/api/stores/{store}/devices/{id2}"),
                Some(&mgr),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            gw.get(&format!("/api/sync/status/{store}"), &token2)
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            gw.get(&format!("/api/sync/status/{store}"), &device)
                .await
                .0,
            StatusCode::OK
        );
        gw.stop().await;
    }
}

/// A loopback webhook receiver: records (delivery id, event, signature, body, answered);
/// answers 500 to the first request, 200 afterwards.
async fn receiver() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(String, String, String, String, u16)>>>,
) {
    use axum::http::HeaderMap;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let s = s.clone();
            async move {
                let h = |k: &str| {
                    headers
                        .get(k)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                };
                let mut v = s.lock().unwrap();
                let code = if v.is_empty() { 500 } else { 200 };
                v.push((
                    h("x-kasir-delivery"),
                    h("x-kasir-event"),
                    h("x-kasir-signature"),
                    body,
                    code,
                ));
                axum::http::StatusCode::from_u16(code).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_retried_and_delivered_once_by_two_instances() {
    for backend in backends() {
        let a = Gateway::start(backend, "hooks", |c| c.webhook_poll_ms = 20).await;
        let b = a.second_instance().await;
        let admin = a.admin().await;
        let (url, seen) = receiver().await;
        let secret = "a-long-shared-secret-1234";
        let (s, v) = a
            .post(
                "/api/webhooks",
                &admin,
                json!({ "url": url, "events": ["stock.low", "sync.failed"], "secret": secret }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        for bad in [
            json!({ "url": "ftp://x", "events": ["stock.low"] }),
            json!({ "url": url, "events": ["stock.sold"] }),
        ] {
            assert_eq!(
                a.post("/api/webhooks", &admin, bad).await.0,
                StatusCode::UNPROCESSABLE_ENTITY
            );
        }
        let (store, device) = a.store_with_products(&admin, "WHK01", 2, 10).await;
        let pid = a.product_id_by_sku("P0001").await;
        a.put(
            &format!("/api/stores/{store}/products/{pid}"),
            &admin,
            json!({ "selling_price": 1000, "min_stock": 5 }),
        )
        .await;
        // Six units of P0001 sold: 10 → 4 crosses the minimum of 5 (one event); a sale with an
        // unknown SKU is refused (a sync.failed event).
        let mut bad = sale("WHK01", 99, 1, 2);
        bad["details"][0]["sku"] = json!("NOPE");
        let sales: Vec<Value> = (0..6)
            .map(|k| sale("WHK01", 2 * k + 1, 1, 2))
            .chain([bad])
            .collect();
        let (s, v) = b
            .post(
                "/api/sync/upload",
                &device,
                json!({ "store_id": "WHK01", "data": { "transactions": sales } }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        // Delivered by either instance; the first attempt gets a 500 and is retried after ~2 s.
        let started = std::time::Instant::now();
        loop {
            let ok = seen.lock().unwrap().iter().filter(|r| r.4 == 200).count();
            if ok >= 2 {
                break;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "{backend}: {:?}",
                seen.lock().unwrap()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let got = seen.lock().unwrap().clone();
        let delivered: Vec<_> = got.iter().filter(|r| r.4 == 200).collect();
        assert_eq!(
            delivered.len(),
            2,
            "{backend}: each event delivered once: {got:?}"
        );
        let mut events: Vec<&str> = delivered.iter().map(|r| r.1.as_str()).collect();
        events.sort_unstable();
        assert_eq!(events, ["stock.low", "sync.failed"]);
        assert_ne!(delivered[0].0, delivered[1].0);
        assert_eq!(
            got.len(),
            3,
            "one failed attempt, then the two deliveries: {got:?}"
        );
        for (id, event, sig, body, _) in &got {
            assert_eq!(
                *sig,
                kasir_gateway::webhooks::signature(secret, body.as_bytes()),
                "{event}"
            );
            let v: Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["id"], json!(id));
            if event == "stock.low" {
                assert_eq!(v["data"]["sku"], "P0001");
                assert_eq!(v["data"]["stock_quantity"], 4);
            }
        }
        assert_eq!(
            a.scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'delivered'")
                .await,
            2
        );
        b.stop().await;
        a.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_fails_part_way_leaves_nothing_behind() {
    for backend in backends() {
        let gw = Gateway::start(backend, "atomic", |_| {}).await;
        let admin = gw.admin().await;
        let (store, device) = gw.store_with_products(&admin, "ATM01", 3, 10).await;
        // The database refuses one payment row, after the sales and lines of the same upload
        // were already written in its transaction.
        let trigger = if backend == "mysql" {
            "CREATE TRIGGER boom BEFORE INSERT ON payment_details FOR EACH ROW BEGIN
               IF NEW.amount = 4242 THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'boom'; END IF; END"
        } else {
            "CREATE TRIGGER boom BEFORE INSERT ON payment_details WHEN NEW.amount = 424200
             BEGIN SELECT RAISE(ABORT, 'boom'); END"
        };
        kasir_gateway::on_db!(&gw.state.db, |pool, B| {
            sqlx::query(trigger).execute(pool).await.unwrap();
        });
        let mut sales: Vec<Value> = (1..=3).map(|n| sale("ATM01", n, 2, 3)).collect();
        sales[2]["payments"] = json!([{ "payment_method": "cash", "amount": 4242 }]);
        let body = json!({ "store_id": "ATM01", "data": { "transactions": sales } });
        let (s, v) = gw.post("/api/sync/upload", &device, body.clone()).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{backend}: {v}");
        assert_error_body(&v);
        for table in [
            "SELECT COUNT(*) FROM transactions",
            "SELECT COUNT(*) FROM transaction_details",
            "SELECT COUNT(*) FROM payment_details",
            "SELECT COUNT(*) FROM stock_movements WHERE reference_type = 'sale'",
        ] {
            assert_eq!(gw.scalar(table).await, 0, "{backend}: {table}");
        }
        let (_, v) = gw
            .get(&format!("/api/products?store_id={store}"), &device)
            .await;
        assert!(
            v["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["stock_quantity"] == 10),
            "{v}"
        );
        assert_eq!(
            gw.scalar("SELECT COUNT(*) FROM sync_logs WHERE status = 'failed'")
                .await,
            1
        );
        // Once the database accepts it, the same upload stores everything, once.
        kasir_gateway::on_db!(&gw.state.db, |pool, B| {
            sqlx::query("DROP TRIGGER boom")
                .execute(pool)
                .await
                .unwrap();
        });
        let (s, v) = gw.post("/api/sync/upload", &device, body).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(gw.scalar("SELECT COUNT(*) FROM transactions").await, 3);
        assert_eq!(
            gw.scalar("SELECT COUNT(*) FROM transaction_details").await,
            6
        );
        gw.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_lookup_on_one_instance_follows_writes_through_another() {
    for backend in backends() {
        let a = Gateway::start(backend, "xcache", |c| {
            c.barcode_cache_ms = 600_000;
            c.change_poll_ms = 50;
        })
        .await;
        let b = a.second_instance().await;
        let admin = a.admin().await;
        let (store, device) = a.store_with_products(&admin, "XCH01", 2, 10).await;
        let path = format!("/api/products/barcode/8990000000001?store_id={store}");
        assert_eq!(b.get(&path, &device).await.1["data"]["stock_quantity"], 10);
        // Cached on B now; a sale uploaded through A.
        let (s, _) = a
            .post("/api/sync/upload", &device, json!({ "store_id": "XCH01", "data": { "transactions": [sale("XCH01", 1, 1, 2)] } }))
            .await;
        assert_eq!(s, StatusCode::OK);
        let started = std::time::Instant::now();
        loop {
            let (_, v) = b.get(&path, &device).await;
            if v["data"]["stock_quantity"] == 9 {
                break;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "{backend}: B still answers {v}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        // A product renamed through A: B drops the whole catalog.
        let pid = a.product_id_by_sku("P0001").await;
        a.put(
            &format!("/api/products/{pid}"),
            &admin,
            json!({ "name": "Kopi Luwak" }),
        )
        .await;
        let started = std::time::Instant::now();
        while b.get(&path, &device).await.1["data"]["name"] != "Kopi Luwak" {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "{backend}: rename not seen"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        b.stop().await;
        a.stop().await;
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
            if (r.access == "public" && r.method == "get") || r.path == "/api/auth/logout" {
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
