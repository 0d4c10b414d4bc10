//! What an HQ integrator sends, written from the seed's §2.2 tables and §3 API (issue #11):
//! every column of stores, products and store_products written and read back, chains' store
//! codes, uploads that name products by id or barcode and sales without `sale_id`, refresh
//! with the access token, authorization before the body. On SQLite and (with
//! `KASIR_TEST_MYSQL_URL`) MariaDB.

mod common;

use common::{Gateway, backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Every field of `sent` came back as sent (numbers compared as numbers: 0.25 and 0.250).
fn assert_fields(got: &Value, sent: &Value, backend: &str) {
    for (k, want) in sent.as_object().unwrap() {
        let g = &got[k];
        let same = match (g.as_f64(), want.as_f64()) {
            (Some(a), Some(b)) => a == b,
            _ => g == want,
        };
        assert!(same, "{backend}: {k}: {g} != {want}");
    }
}

fn field_error(v: &Value) -> String {
    v["errors"]
        .as_object()
        .and_then(|e| e.keys().next().cloned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_takes_every_seed_column_and_a_chains_code() {
    for backend in backends() {
        let gw = Gateway::start(backend, "stores", |_| {}).await;
        let admin = gw.admin().await;
        let full = json!({
            "store_code": "JKT-001", "store_name": "Toko Menteng",
            "address": "Jl. HOS Cokroaminoto 12", "city": "Jakarta Pusat", "province": "DKI Jakarta",
            "postal_code": "10310", "phone": "+62 21 555-0101", "email": "menteng@toko.co.id",
            "tax_rate": 11, "tax_inclusive": false, "cash_rounding": 500,
            "currency": "IDR", "timezone": "Asia/Jakarta"
        });
        let (s, v) = gw.post("/api/stores", &admin, full.clone()).await;
        assert_eq!(s, StatusCode::CREATED, "{backend}: {v}");
        let id = v["id"].as_u64().unwrap();
        assert_fields(&v, &full, backend);
        assert_eq!(v["is_active"], true);
        assert!(v["created_at"].is_string() && v["last_sync"].is_null());
        // By id, by code, by code in another case.
        for path in [
            format!("/api/stores/{id}"),
            "/api/stores/JKT-001".into(),
            "/api/stores/jkt-001".into(),
        ] {
            let (s, got) = gw.get(&path, &admin).await;
            assert_eq!(s, StatusCode::OK, "{backend} {path}: {got}");
            assert_eq!(got["id"], json!(id));
            assert_eq!(got["city"], "Jakarta Pusat");
        }
        // The list carries the same columns.
        let (_, list) = gw.get("/api/stores", &admin).await;
        assert_eq!(list[0]["postal_code"], "10310", "{list}");
        // Codes are unique without regard to case; a code must not look like an id; the
        // seed's 50 characters with '-' and '_' are fine.
        for (code, ok) in [
            ("jkt-001", false),
            ("12345", false),
            ("BDG_002-x", true),
            (&*"B".repeat(50), true),
            (&*"B".repeat(51), false),
            ("JKT 002", false),
        ] {
            let (s, v) = gw
                .post(
                    "/api/stores",
                    &admin,
                    json!({ "store_code": code, "store_name": "x" }),
                )
                .await;
            if ok {
                assert_eq!(s, StatusCode::CREATED, "{backend} {code}: {v}");
            } else {
                // A taken code conflicts with the data (409); a malformed one is a 422.
                let want = if code == "jkt-001" {
                    StatusCode::CONFLICT
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                };
                assert_eq!(s, want, "{backend} {code}: {v}");
                assert_eq!(field_error(&v), "store_code", "{v}");
            }
        }
        // Bad shapes are refused by field; nothing changes.
        for (field, bad) in [
            ("email", json!("not-an-address")),
            ("phone", json!("call me")),
            ("postal_code", json!("12345678901")),
            ("currency", json!("rupiah")),
            ("timezone", json!("Jakarta time")),
            ("tax_rate", json!(101)),
            ("manager_id", json!(999_999)),
        ] {
            let (s, v) = gw
                .put(&format!("/api/stores/{id}"), &admin, json!({ field: bad }))
                .await;
            // A manager who is not there is a conflict with the data (409), not a bad shape.
            let want = if field == "manager_id" {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            assert_eq!(s, want, "{backend} {field}: {v}");
            assert_eq!(field_error(&v), field, "{v}");
        }
        let (s, v) = gw
            .put(
                &format!("/api/stores/{id}"),
                &admin,
                json!({ "store_code": "JKT-009" }),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        // A partial change: the rest stays; null clears.
        let (s, v) = gw
            .put(
                &format!("/api/stores/{id}"),
                &admin,
                json!({ "city": "Jakarta", "phone": null, "manager_id": 1 }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{backend}: {v}");
        assert_eq!(v["city"], "Jakarta");
        assert!(v["phone"].is_null());
        assert_eq!(v["manager_id"], 1);
        assert_eq!(v["email"], "menteng@toko.co.id");
        // Transaction numbers of a hyphenated code upload and parse.
        let (s, v) = gw
            .post(
                &format!("/api/stores/{id}/devices"),
                &admin,
                json!({ "name": "lane 1" }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let device = v["token"].as_str().unwrap().to_string();
        let (s, v) = gw.get("/api/stores/JKT-001", &device).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, _) = gw.get("/api/stores/BDG_002-x", &device).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        gw.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_and_store_products_take_every_seed_column() {
    for backend in backends() {
        let gw = Gateway::start(backend, "products", |_| {}).await;
        let admin = gw.admin().await;
        let (store, device) = gw.store_with_products(&admin, "SBY-01", 1, 0).await;
        let full = json!({
            "sku": "KOPI-250", "name": "Kopi Bubuk Toraja 250 g", "barcode": "8991234567895",
            "description": "Arabika", "brand": "Toraja Jaya", "unit": "pack", "weight": 0.25,
            "dimensions": "15x10x5 cm", "cost_price": 38000, "suggested_price": 52000,
            "min_price": 45000, "max_price": 60000, "image_url": "https://cdn.example/kopi.jpg",
            "images": ["https://cdn.example/kopi-1.jpg", "https://cdn.example/kopi-2.jpg"],
            "attributes": { "roast": "medium", "origin": { "region": "Toraja" } }
        });
        let (s, v) = gw.post("/api/products", &admin, full.clone()).await;
        assert_eq!(s, StatusCode::CREATED, "{backend}: {v}");
        let id = v["id"].as_u64().unwrap();
        let (s, got) = gw.get(&format!("/api/products/{id}"), &device).await;
        assert_eq!(s, StatusCode::OK, "{got}");
        assert_fields(&got, &full, backend);
        // Price bounds and JSON shapes are checked, by field.
        for (body, field) in [
            (json!({ "suggested_price": 40000 }), "suggested_price"),
            (json!({ "min_price": 70000 }), "min_price"),
            (json!({ "images": { "a": 1 } }), "images"),
            (json!({ "attributes": [1, 2] }), "attributes"),
            (json!({ "weight": -1 }), "weight"),
            (json!({ "unit": "crate" }), "unit"),
            // The length counts spaces around the text (the schema's maxLength), as found
            // by schemathesis: 255 characters and a space is one too many.
            (
                json!({ "barcode": format!(" {}", "*".repeat(255)) }),
                "barcode",
            ),
            (json!({ "barcode": "899 123" }), "barcode"),
        ] {
            let (s, v) = gw.put(&format!("/api/products/{id}"), &admin, body).await;
            assert_eq!(
                s,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{backend} {field}: {v}"
            );
            assert_eq!(field_error(&v), field, "{v}");
        }
        let (s, v) = gw
            .put(
                &format!("/api/products/{id}"),
                &admin,
                json!({ "brand": null, "max_price": null, "suggested_price": 65000 }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{backend}: {v}");
        assert!(v["brand"].is_null());
        assert_eq!(v["suggested_price"].as_f64(), Some(65000.0));
        assert_eq!(v["dimensions"], "15x10x5 cm");
        let (s, v) = gw
            .put(
                &format!("/api/products/{id}"),
                &admin,
                json!({ "barcode": format!(" {} ", "7".repeat(253)) }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{backend}: {v}");
        assert_eq!(v["barcode"], "7".repeat(253), "trimmed");
        // The store's row: price, limits, location, last restock, and a count that becomes
        // an adjustment movement the store downloads once.
        let path = format!("/api/stores/{store}/products/{id}");
        let (s, v) = gw.put(&path, &admin, json!({ "stock_quantity": 40 })).await;
        assert_eq!(s, StatusCode::CONFLICT, "first time needs a price: {v}");
        let body = json!({
            "selling_price": 52000, "min_stock": 5, "max_stock": 200, "location": "Rak A3",
            "last_restocked": "2026-11-28T07:30:00Z", "stock_quantity": 40
        });
        for _ in 0..2 {
            let (s, v) = gw.put(&path, &admin, body.clone()).await;
            assert_eq!(s, StatusCode::OK, "{backend}: {v}");
            let d = &v["data"];
            assert_eq!(d["stock_quantity"].as_f64(), Some(40.0), "{v}");
            assert_eq!(d["location"], "Rak A3");
            assert_eq!(d["min_stock"].as_f64(), Some(5.0));
            assert!(
                d["last_restocked"]
                    .as_str()
                    .unwrap()
                    .starts_with("2026-11-28T07:30:00")
            );
        }
        let (s, v) = gw
            .put(
                &path,
                &admin,
                json!({ "stock_quantity": 35, "location": null }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["data"]["stock_quantity"].as_f64(), Some(35.0));
        assert!(v["data"]["location"].is_null());
        assert_eq!(v["data"]["selling_price"].as_f64(), Some(52000.0));
        let (s, v) = gw.get("/api/sync/download/SBY-01", &device).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let moves: Vec<f64> = v["data"]["stock_movements"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["sku"] == "KOPI-250")
            .map(|m| m["quantity"].as_f64().unwrap())
            .collect();
        assert_eq!(
            moves,
            vec![40.0, -5.0],
            "two counts, one movement each: {v}"
        );
        gw.stop().await;
    }
}

/// A seed-shaped sale: no `sale_id`, lines naming products by `product_id`.
fn seed_sale(store: &str, n: u64, line: Value) -> Value {
    json!({
        "transaction_number": format!("{store}-001-{n:08}"),
        "cashier_id": 1,
        "transaction_date": "2026-11-24T03:00:00Z",
        "subtotal": 1000, "tax_amount": 0, "discount_amount": 0, "total_amount": 1000,
        "payment_method": "cash", "payment_status": "paid",
        "details": [line],
        "payments": [{ "payment_method": "cash", "amount": 1000 }]
    })
}

fn line(naming: Value) -> Value {
    let mut l = json!({ "quantity": 1, "unit_price": 1000, "total_price": 1000 });
    for (k, v) in naming.as_object().unwrap() {
        l[k] = v.clone();
    }
    l
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_shaped_uploads_are_keyed_by_store_and_number_exactly_once() {
    for backend in backends() {
        let gw = Gateway::start(backend, "seedupload", |_| {}).await;
        let admin = gw.admin().await;
        let (_, device) = gw.store_with_products(&admin, "MDN-01", 3, 100).await;
        let p0 = gw.product_id_by_sku("P0000").await;
        let p1 = gw.product_id_by_sku("P0001").await;
        let by_id = seed_sale("MDN-01", 1, line(json!({ "product_id": p0 })));
        let upload =
            |sales: Vec<Value>| json!({ "store_id": "MDN-01", "data": { "transactions": sales } });
        let (s, v) = gw
            .post("/api/sync/upload", &device, upload(vec![by_id.clone()]))
            .await;
        assert_eq!(s, StatusCode::OK, "{backend}: {v}");
        let r = &v["processed"]["transactions"]["results"][0];
        assert_eq!(r["status"], "stored", "{v}");
        assert_eq!(
            r["id"], "MDN-01-001-00000001",
            "answered by its number: {v}"
        );
        // The same sale again, and named by SKU or barcode instead: one sale.
        let by_sku = seed_sale("MDN-01", 1, line(json!({ "sku": "P0000" })));
        let by_barcode = seed_sale("MDN-01", 1, line(json!({ "barcode": "8990000000000" })));
        let all_three = seed_sale(
            "MDN-01",
            1,
            line(json!({ "product_id": p0, "sku": "P0000", "barcode": "8990000000000" })),
        );
        for again in [by_id.clone(), by_sku, by_barcode, all_three] {
            let (_, v) = gw
                .post("/api/sync/upload", &device, upload(vec![again]))
                .await;
            assert_eq!(
                v["processed"]["transactions"]["results"][0]["status"], "duplicate",
                "{backend}: {v}"
            );
        }
        // Another content under the same number is a conflict; names that disagree, or none,
        // are refused for that sale with the reason.
        let mut other = by_id.clone();
        other["notes"] = json!("edited");
        let disagree = seed_sale(
            "MDN-01",
            2,
            line(json!({ "product_id": p1, "sku": "P0000" })),
        );
        let unknown = seed_sale("MDN-01", 3, line(json!({ "barcode": "0000000000000" })));
        let nameless = seed_sale("MDN-01", 4, line(json!({})));
        let (_, v) = gw
            .post(
                "/api/sync/upload",
                &device,
                upload(vec![other, disagree, unknown, nameless]),
            )
            .await;
        let results = &v["processed"]["transactions"]["results"];
        assert_eq!(results[0]["status"], "conflict", "{v}");
        for i in 1..4 {
            assert_eq!(results[i]["status"], "invalid", "{v}");
        }
        let errors = v["processed"]["transactions"]["errors"].to_string();
        assert!(errors.contains("name different products"), "{errors}");
        assert!(errors.contains("unknown barcode"), "{errors}");
        assert!(errors.contains("product_id, sku or barcode"), "{errors}");
        assert_eq!(
            gw.scalar("SELECT COUNT(*) FROM transactions").await,
            1,
            "{backend}"
        );
        // Eight overlapping uploads of 20 seed-shaped sales each (numbers 10..40, windows
        // overlapping): every sale stored once, stock moved once per sale.
        let mut tasks = Vec::new();
        for k in 0..8u64 {
            let sales: Vec<Value> = (10 + k * 3..30 + k * 3)
                .map(|n| {
                    seed_sale(
                        "MDN-01",
                        n,
                        line(json!({ "product_id": if n % 2 == 0 { p0 } else { p1 } })),
                    )
                })
                .collect();
            let body = upload(sales);
            let base = gw.base.clone();
            let device = device.clone();
            tasks.push(tokio::spawn(async move {
                let r = reqwest::Client::new()
                    .post(format!("{base}/api/sync/upload"))
                    .bearer_auth(device)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let distinct = (10..30 + 7 * 3).count() as i64;
        assert_eq!(
            gw.scalar("SELECT COUNT(*) FROM transactions").await,
            1 + distinct,
            "{backend}"
        );
        assert_eq!(
            gw.scalar("SELECT COUNT(*) FROM stock_movements WHERE reference_type = 'sale'")
                .await,
            1 + distinct,
            "{backend}"
        );
        gw.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_with_the_access_token_in_the_header_as_the_seed_shows() {
    for backend in backends() {
        let gw = Gateway::start(backend, "seedrefresh", |_| {}).await;
        let (access, _) = gw.login(common::ADMIN.0, common::ADMIN.1).await;
        let (s, v) = gw
            .call(Method::POST, "/api/auth/refresh", Some(&access), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{backend}: {v}");
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_in"], 3600);
        assert!(v.get("refresh_token").is_none(), "{v}");
        let next = v["access_token"].as_str().unwrap().to_string();
        assert_eq!(gw.get("/api/stores", &next).await.0, StatusCode::OK);
        // With an empty JSON body too.
        let (s, v) = gw
            .call(
                Method::POST,
                "/api/auth/refresh",
                Some(&next),
                Some(json!({})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        // A forged or logged-out token gets nothing.
        let flipped = if next.ends_with('0') { '1' } else { '0' };
        let forged = format!("{}{flipped}", &next[..next.len() - 1]);
        let (s, _) = gw
            .call(Method::POST, "/api/auth/refresh", Some(&forged), None)
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, _) = gw
            .call(Method::POST, "/api/auth/logout", Some(&next), None)
            .await;
        assert_eq!(s, StatusCode::OK);
        for t in [&access, &next] {
            let (s, v) = gw
                .call(Method::POST, "/api/auth/refresh", Some(t), None)
                .await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{backend}: {v}");
        }
        gw.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_may_upload_is_decided_before_the_body_is_read() {
    for backend in backends() {
        let gw = Gateway::start(backend, "authfirst", |_| {}).await;
        let admin = gw.admin().await;
        let (_, mine) = gw.store_with_products(&admin, "AAA-01", 1, 0).await;
        let (_, theirs) = gw.store_with_products(&admin, "BBB-01", 1, 0).await;
        let malformed =
            json!({ "store_id": "AAA-01", "data": { "transactions": [{ "nonsense": 1 }] } });
        let (s, v) = gw
            .post("/api/sync/upload", &theirs, malformed.clone())
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{backend}: {v}");
        let (s, v) = gw.post("/api/sync/upload", &mine, malformed).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{backend}: {v}");
        gw.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_at_hq_with_loyalty_and_visits_from_every_store() {
    for backend in backends() {
        let gw = Gateway::start(backend, "customers", |_| {}).await;
        let admin = gw.admin().await;
        let (a, dev_a) = gw.store_with_products(&admin, "PLG-01", 2, 100).await;
        let (b, dev_b) = gw.store_with_products(&admin, "PLG-02", 2, 100).await;
        let full = json!({
            "customer_code": "M-0001", "name": "Siti Rahayu", "email": "siti@example.co.id",
            "phone": "0812-3456-7890", "address": "Jl. Merdeka 1", "city": "Palembang",
            "date_of_birth": "1990-04-17", "gender": "female", "preferred_store_id": a
        });
        let (s, v) = gw.post("/api/customers", &admin, full.clone()).await;
        assert_eq!(s, StatusCode::CREATED, "{backend}: {v}");
        assert_fields(&v, &full, backend);
        let uuid = v["customer_uuid"].as_str().unwrap().to_string();
        let id = v["id"].as_u64().unwrap();
        for (field, bad) in [
            ("email", json!("siti")),
            ("phone", json!("12")),
            ("gender", json!("x")),
            ("date_of_birth", json!("2999-01-01")),
            ("preferred_store_id", json!(999_999)),
        ] {
            let (s, v) = gw
                .put(
                    &format!("/api/customers/{id}"),
                    &admin,
                    json!({ field: bad }),
                )
                .await;
            // A store that is not there is a conflict with the data (409), not a bad shape.
            let want = if field == "preferred_store_id" {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            assert_eq!(s, want, "{backend} {field}: {v}");
            assert_eq!(field_error(&v), field, "{v}");
        }
        // She buys in both stores with points; HQ adds them up.
        let sale = |store: &str, n: u64, earned: i64| {
            let mut s = common::sale(store, n, 1, 2);
            s["customer_uuid"] = json!(uuid);
            s["loyalty_points_earned"] = json!(earned);
            s
        };
        for (dev, store, n, pts) in [
            (&dev_a, "PLG-01", 1, 10),
            (&dev_a, "PLG-01", 2, 5),
            (&dev_b, "PLG-02", 3, 7),
        ] {
            let (s, v) = gw
                .post(
                    "/api/sync/upload",
                    dev,
                    json!({ "store_id": store, "data": { "transactions": [sale(store, n, pts)] } }),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{backend}: {v}");
            assert_eq!(v["processed"]["transactions"]["success"], 1, "{v}");
        }
        let (s, v) = gw.get(&format!("/api/customers/{uuid}"), &dev_b).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["loyalty_points"], 22, "{backend}: {v}");
        assert_eq!(v["total_visits"], 3);
        assert_eq!(v["total_purchases"].as_f64(), Some(3000.0));
        assert_eq!(
            v["visits_by_store"],
            json!([{ "store_id": a, "visits": 2 }, { "store_id": b, "visits": 1 }])
        );
        // Search by name, phone, e-mail and code; wildcards in the search are literal.
        for q in ["rahayu", "3456", "siti%40example", "M-0001"] {
            let (s, v) = gw.get(&format!("/api/customers?search={q}"), &admin).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            assert_eq!(v["meta"]["total"], 1, "{backend} {q}: {v}");
        }
        let (_, v) = gw.get("/api/customers?search=%25", &admin).await;
        assert_eq!(v["meta"]["total"], 0, "{v}");
        // Store scoping: a store's manager changes its own customers only; devices never.
        let (s, v) = gw
            .post(
                "/api/users",
                &admin,
                json!({ "username": "mgr-b", "email": "b@toko.co.id", "full_name": "Manajer B",
                        "role": "store_manager", "store_id": b, "password": "Pempek-Kapal-Selam-9" }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let (mgr_b, _) = gw.login("mgr-b", "Pempek-Kapal-Selam-9").await;
        let (s, _) = gw
            .put(
                &format!("/api/customers/{id}"),
                &mgr_b,
                json!({ "city": "Jakarta" }),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = gw
            .post("/api/customers", &dev_a, json!({ "name": "Budi" }))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, v) = gw
            .post(
                "/api/customers",
                &mgr_b,
                json!({ "name": "Budi", "phone": "0711 555 123" }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        assert_eq!(v["preferred_store_id"], json!(b));
        // An HQ change flows down to the stores with the download.
        let (s, v) = gw
            .put(
                &format!("/api/customers/{id}"),
                &admin,
                json!({ "phone": "0812 0000 1111", "city": null }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert!(v["city"].is_null());
        let (_, d) = gw
            .get("/api/sync/download/PLG-02?tables=customers", &dev_b)
            .await;
        let got: Vec<&Value> = d["data"]["customers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["customer_uuid"] == json!(uuid))
            .collect();
        assert_eq!(got.len(), 1, "{d}");
        assert_eq!(got[0]["phone"], "0812 0000 1111");
        gw.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_categories_change_with_checks_and_a_changed_account_loses_its_sessions() {
    for backend in backends() {
        let gw = Gateway::start(backend, "userchange", |_| {}).await;
        let admin = gw.admin().await;
        let (store, _) = gw.store_with_products(&admin, "BKS-01", 1, 0).await;
        let (s, v) = gw
            .post(
                "/api/users",
                &admin,
                json!({ "username": "kasir-1", "email": "k1@toko.co.id", "full_name": "Kasir Satu",
                        "role": "cashier", "store_id": store, "password": "Bika-Ambon-Medan-7",
                        "permissions": ["refund"] }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{backend}: {v}");
        let id = v["id"].as_u64().unwrap();
        let (token, _) = gw.login("kasir-1", "Bika-Ambon-Medan-7").await;
        assert_eq!(gw.get("/api/stores", &token).await.0, StatusCode::OK);
        let (_, list) = gw.get("/api/users", &admin).await;
        let me = list
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == json!(id))
            .unwrap()
            .clone();
        assert_eq!(me["email"], "k1@toko.co.id");
        assert_eq!(me["permissions"], json!(["refund"]));
        assert!(me.get("password_hash").is_none());
        // Bad changes are refused by field.
        for (body, field) in [
            (json!({ "email": "nope" }), "email"),
            (json!({ "password": "short" }), "password"),
            (json!({ "role": "admin" }), "store_id"),
            (json!({ "permissions": 7 }), "permissions"),
        ] {
            let (s, v) = gw.put(&format!("/api/users/{id}"), &admin, body).await;
            assert_eq!(
                s,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{backend} {field}: {v}"
            );
            assert_eq!(field_error(&v), field, "{v}");
        }
        // A name change keeps the session; a promotion ends it.
        let (s, v) = gw
            .put(
                &format!("/api/users/{id}"),
                &admin,
                json!({ "full_name": "Kasir Utama" }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(gw.get("/api/stores", &token).await.0, StatusCode::OK);
        let (s, v) = gw
            .put(
                &format!("/api/users/{id}"),
                &admin,
                json!({ "role": "supervisor" }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(
            gw.get("/api/stores", &token).await.0,
            StatusCode::UNAUTHORIZED
        );
        let (s, _) = gw
            .put(
                &format!("/api/users/{id}"),
                &admin,
                json!({ "role": "super_admin", "store_id": null }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "a super_admin may grant super_admin");
        // Categories: changed, and never made a cycle.
        let (_, a) = gw
            .post("/api/categories", &admin, json!({ "name": "Minuman" }))
            .await;
        let a = a["id"].as_u64().unwrap();
        let (_, b) = gw
            .post(
                "/api/categories",
                &admin,
                json!({ "name": "Kopi", "parent_id": a }),
            )
            .await;
        let b = b["id"].as_u64().unwrap();
        let (s, v) = gw
            .put(
                &format!("/api/categories/{a}"),
                &admin,
                json!({ "parent_id": b }),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{backend}: {v}");
        assert_eq!(field_error(&v), "parent_id");
        let (s, v) = gw
            .put(
                &format!("/api/categories/{b}"),
                &admin,
                json!({ "name": "Kopi Bubuk", "description": "Arabika, robusta", "sort_order": 3 }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (_, cats) = gw.get("/api/categories", &admin).await;
        let kopi = cats
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == json!(b))
            .unwrap()
            .clone();
        assert_eq!(kopi["name"], "Kopi Bubuk");
        assert_eq!(kopi["parent_id"], json!(a));
        assert_eq!(kopi["description"], "Arabika, robusta");
        gw.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hq_stock_movements_take_the_seeds_reference_and_transfer_columns() {
    for backend in backends() {
        let gw = Gateway::start(backend, "transfers", |_| {}).await;
        let admin = gw.admin().await;
        let (a, _) = gw.store_with_products(&admin, "SMG-01", 1, 50).await;
        let (b, _) = gw.store_with_products(&admin, "SMG-02", 1, 0).await;
        let pid = gw.product_id_by_sku("P0000").await;
        let path = format!("/api/products/{pid}/stock");
        for (body, field) in [
            (
                json!({ "store_id": a, "quantity": 5, "movement_type": "transfer" }),
                "to_store_id",
            ),
            (
                json!({ "store_id": a, "quantity": 5, "movement_type": "transfer", "to_store_id": a }),
                "to_store_id",
            ),
            (
                json!({ "store_id": a, "quantity": 5, "movement_type": "transfer", "to_store_id": 999_999 }),
                "to_store_id",
            ),
            (
                json!({ "store_id": a, "quantity": 5, "movement_type": "in", "to_store_id": b }),
                "to_store_id",
            ),
            (
                json!({ "store_id": a, "quantity": 5, "movement_type": "transfer", "to_store_id": b, "from_store_id": b }),
                "from_store_id",
            ),
        ] {
            let missing_store = body["to_store_id"] == json!(999_999);
            let (s, v) = gw.put(&path, &admin, body).await;
            let want = if missing_store {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            assert_eq!(s, want, "{backend} {field}: {v}");
            assert_eq!(field_error(&v), field, "{v}");
        }
        let body = json!({ "store_id": a, "quantity": 5, "movement_type": "transfer", "to_store_id": b,
                           "reference_id": 4711, "notes": "ke Semarang 2",
                           "movement_id": "0192f0c4-1111-7000-8000-000000000001" });
        for _ in 0..2 {
            let (s, v) = gw.put(&path, &admin, body.clone()).await;
            assert_eq!(s, StatusCode::OK, "{backend}: {v}");
            assert_eq!(
                v["data"]["stock_quantity"].as_f64(),
                Some(45.0),
                "counted once: {v}"
            );
        }
        assert_eq!(
            gw.scalar(
                "SELECT COUNT(*) FROM stock_movements WHERE reference_id = 4711 AND to_store_id IS NOT NULL
                   AND from_store_id = store_id AND movement_type = 'transfer'"
            )
            .await,
            1,
            "{backend}"
        );
        // The store downloads the transfer with the seed's columns.
        let (s, v) = gw
            .get(
                &format!("/api/sync/download/{a}?tables=stock_movements"),
                &admin,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{backend}: {v}");
        let moves = v["data"]["stock_movements"].as_array().unwrap();
        let transfer = moves
            .iter()
            .find(|m| m["movement_id"] == "0192f0c4-1111-7000-8000-000000000001")
            .unwrap_or_else(|| panic!("{backend}: {v}"));
        assert_eq!(transfer["reference_id"], 4711, "{transfer}");
        assert_eq!(transfer["from_store_id"], json!(a), "{transfer}");
        assert_eq!(transfer["to_store_id"], json!(b), "{transfer}");
        gw.stop().await;
    }
}
