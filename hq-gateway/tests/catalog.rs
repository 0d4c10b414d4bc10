//! The gateway over HTTP on loopback, on SQLite and (with `KASIR_TEST_MYSQL_URL`) MariaDB:
//! Barcode lookups and their cache across instances, master data (users, categories, products, devices).

mod common;

use common::{Gateway, backends, sale};
use reqwest::{Method, StatusCode};
use serde_json::json;

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
                user("mgr1", "store_manager", None, "Sate-Ayam-2026-ok"),
                "store_id",
            ),
            (
                user("mgr1", "admin", Some(store), "Sate-Ayam-2026-ok"),
                "store_id",
            ),
            (
                user("mgr1", "store_manager", Some(store), "short1"),
                "password",
            ),
            (
                user("mgr 1", "store_manager", Some(store), "Sate-Ayam-2026-ok"),
                "username",
            ),
            (
                user("mgr1", "owner", Some(store), "Sate-Ayam-2026-ok"),
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
                user("mgr1", "store_manager", Some(store), "Sate-Ayam-2026-ok"),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{backend}: {v}");
        let (s, _) = gw
            .post(
                "/api/users",
                &admin,
                user("mgr1", "store_manager", Some(store), "Sate-Ayam-2026-ok"),
            )
            .await;
        // A taken name conflicts with the data (409), like a reference to nothing.
        assert_eq!(s, StatusCode::CONFLICT);
        let (mgr, _) = gw.login("mgr1", "Sate-Ayam-2026-ok").await;
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
        assert_eq!(s, StatusCode::CONFLICT);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_cannot_lock_itself_out_but_another_can_change_it() {
    for backend in backends() {
        let gw = Gateway::start(backend, "self", |_| {}).await;
        let admin = gw.admin().await;
        let (_, me) = gw.get("/api/users", &admin).await;
        let me = me[0]["id"].as_u64().unwrap();
        for body in [
            json!({ "is_active": false }),
            json!({ "role": "regional_manager" }),
            json!({ "password": "Nasi-Goreng-2027" }),
        ] {
            let (s, v) = gw.put(&format!("/api/users/{me}"), &admin, body).await;
            assert_eq!(s, StatusCode::CONFLICT, "{backend}: {v}");
            assert!(v["errors"]["id"].is_array(), "{v}");
        }
        // The session still works, and a harmless change of one's own name is fine.
        let (s, v) = gw
            .put(
                &format!("/api/users/{me}"),
                &admin,
                json!({ "full_name": "Kepala IT" }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{backend}: {v}");
        // Another administrator may deactivate it.
        let (s, v) = gw
            .post(
                "/api/users",
                &admin,
                json!({ "username": "admin2", "email": "admin2@example.com", "full_name": "Admin Dua",
                        "role": "admin", "password": "Es-Teh-Manis-2026" }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{backend}: {v}");
        let (other, _) = gw.login("admin2", "Es-Teh-Manis-2026").await;
        let (s, v) = gw
            .put(
                &format!("/api/users/{me}"),
                &other,
                json!({ "is_active": false }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{backend}: {v}");
        assert_eq!(
            gw.get("/api/users", &admin).await.0,
            StatusCode::UNAUTHORIZED
        );
        gw.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_integer_written_with_a_zero_fraction_is_that_integer() {
    for backend in backends() {
        let gw = Gateway::start(backend, "float", |_| {}).await;
        let admin = gw.admin().await;
        let (s, v) = gw
            .post(
                "/api/categories",
                &admin,
                json!({ "name": "Minuman", "sort_order": 2.0 }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{backend}: {v}");
        let (s, v) = gw
            .post(
                "/api/products",
                &admin,
                json!({ "sku": "TEH-1", "name": "Teh", "category_id": 1.0, "cost_price": 3000.0 }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{backend}: {v}");
        assert_eq!(v["category_id"], 1, "{v}");
        // A fraction is still not an id.
        let (s, v) = gw
            .post(
                "/api/products",
                &admin,
                json!({ "sku": "TEH-2", "name": "Teh", "category_id": 1.5 }),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{backend}: {v}");
        assert!(v["errors"]["category_id"].is_array(), "{v}");
        gw.stop().await;
    }
}
