//! The gateway over HTTP on loopback, on SQLite and (with `KASIR_TEST_MYSQL_URL`) MariaDB:
//! Analytics adding up and scoped, webhooks signed, retried and delivered once by two instances.

mod common;

use common::{Gateway, backends, sale};
use reqwest::StatusCode;
use serde_json::{Value, json};

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
        kasir_gateway::sessions::create_user(
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
