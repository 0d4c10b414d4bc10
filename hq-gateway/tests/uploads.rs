//! The gateway over HTTP on loopback, on SQLite and (with `KASIR_TEST_MYSQL_URL`) MariaDB:
//! Exactly-once uploads (also 8 at once, overlapping), stock following movements once, HQ adjustments downloaded by the store, an upload failing part-way leaving nothing.

mod common;

use common::{Gateway, assert_error_body, backends, sale};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn urlenc(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
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
async fn times_after_2038_are_kept_and_times_before_2000_refused() {
    for backend in backends() {
        let gw = Gateway::start(backend, "y2038", |_| {}).await;
        let admin = gw.admin().await;
        let (store, _) = gw.store_with_products(&admin, "TIM01", 2, 10).await;
        // MariaDB's TIMESTAMP ends in 2038; the columns are DATETIME and must keep later times.
        let mut late = sale("TIM01", 1, 1, 2);
        late["transaction_date"] = json!("2039-03-01T10:00:00Z");
        let mut early = sale("TIM01", 2, 1, 2);
        early["transaction_date"] = json!("1999-12-31T23:59:59Z");
        let body = json!({ "store_id": "TIM01", "data": {
            "transactions": [late, early],
            "customers": [
                { "customer_uuid": "0192f0c4-2222-7000-8000-000000000001", "name": "Dewi",
                  "updated_at": "2040-01-01T00:00:00Z" },
                { "customer_uuid": "0192f0c4-2222-7000-8000-000000000002", "name": "Rudi",
                  "updated_at": "0999-01-01T00:00:00Z" }
            ] } });
        let (s, v) = gw.post("/api/sync/upload", &admin, body).await;
        assert_eq!(s, StatusCode::OK, "{backend}: {v}");
        let p = &v["processed"];
        assert_eq!(
            p["transactions"]["results"][0]["status"], "stored",
            "{backend}: {v}"
        );
        assert_eq!(
            p["transactions"]["results"][1]["status"], "invalid",
            "{backend}: {v}"
        );
        assert_eq!(
            p["customers"]["results"][0]["status"], "stored",
            "{backend}: {v}"
        );
        assert_eq!(
            p["customers"]["results"][1]["status"], "invalid",
            "{backend}: {v}"
        );
        let (_, t) = gw
            .get(
                &format!("/api/transactions?store_id={store}&from=2039-01-01T00:00:00Z&to=2039-12-31T00:00:00Z"),
                &admin,
            )
            .await;
        assert_eq!(
            t["data"][0]["transaction_date"], "2039-03-01T10:00:00Z",
            "{backend}: {t}"
        );
        let (_, c) = gw.get("/api/customers?search=Dewi", &admin).await;
        assert_eq!(
            c["data"][0]["updated_at"], "2040-01-01T00:00:00Z",
            "{backend}: {c}"
        );
        // A store's row keeps a restock date after 2038 too, and refuses one before 2000.
        let pid = gw.product_id_by_sku("P0001").await;
        let path = format!("/api/stores/{store}/products/{pid}");
        let (s, v) = gw
            .put(
                &path,
                &admin,
                json!({ "last_restocked": "2039-05-05T05:05:05Z" }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{backend}: {v}");
        assert_eq!(
            v["data"]["last_restocked"], "2039-05-05T05:05:05Z",
            "{backend}: {v}"
        );
        let (s, v) = gw
            .put(
                &path,
                &admin,
                json!({ "last_restocked": "1999-05-05T05:05:05Z" }),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{backend}: {v}");
        gw.stop().await;
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_may_be_compressed_and_large_answers_are() {
    for backend in backends() {
        let gw = Gateway::start(backend, "gzip", |c| c.body_limit_bytes = 256 * 1024).await;
        let admin = gw.admin().await;
        let (store, _) = gw.store_with_products(&admin, "ZIP01", 300, 5).await;
        let body =
            json!({ "store_id": "ZIP01", "data": { "transactions": [sale("ZIP01", 1, 3, 5)] } });
        let raw = serde_json::to_vec(&body).unwrap();
        let send = |encoding: &'static str, bytes: Vec<u8>| {
            gw.client
                .post(format!("{}/api/sync/upload", gw.base))
                .bearer_auth(&admin)
                .header("content-type", "application/json")
                .header("content-encoding", encoding)
                .body(bytes)
                .send()
        };
        // gzip, then the same sale in zstd: stored once.
        let r = send("gzip", gzip(&raw)).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{backend}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            v["processed"]["transactions"]["results"][0]["status"], "stored",
            "{v}"
        );
        let r = send("zstd", zstd::encode_all(&raw[..], 3).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{backend}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            v["processed"]["transactions"]["results"][0]["status"], "duplicate",
            "{v}"
        );
        // An encoding the gateway does not read, and a broken gzip stream: refused, with the
        // error body.
        let r = send("br", raw.clone()).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{backend}");
        assert_error_body(&r.json().await.unwrap());
        let r = send("gzip", raw[..40].to_vec()).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{backend}");
        assert_error_body(&r.json().await.unwrap());
        // A small body that inflates past the limit (here 256 KiB) is too large.
        let bomb = format!(
            r#"{{"store_id": "ZIP01", "data": {{}}, "x": "{}"}}"#,
            "0".repeat(4 << 20)
        );
        let packed = gzip(bomb.as_bytes());
        assert!(packed.len() < 64 * 1024, "{}", packed.len());
        let r = send("gzip", packed).await.unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{backend}");
        assert_error_body(&r.json().await.unwrap());
        // A large answer comes compressed to a client that accepts it, a small one not.
        // A client that leaves the answer as it came (reqwest unpacks gzip when another crate
        // of the workspace turns its gzip feature on).
        let raw = reqwest::Client::builder().no_gzip().build().unwrap();
        let big = raw
            .get(format!("{}/api/sync/download/{store}", gw.base))
            .bearer_auth(&admin)
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(big.status(), StatusCode::OK);
        assert_eq!(big.headers()["content-encoding"], "gzip", "{backend}");
        let packed = big.bytes().await.unwrap();
        let mut text = String::new();
        use std::io::Read;
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_string(&mut text)
            .unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["data"]["products"].as_array().unwrap().len(),
            300,
            "{backend}"
        );
        assert!(
            packed.len() * 4 < text.len(),
            "{} of {}",
            packed.len(),
            text.len()
        );
        let small = gw
            .client
            .get(format!("{}/health", gw.base))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert!(
            small.headers().get("content-encoding").is_none(),
            "{backend}"
        );
        gw.stop().await;
    }
}

/// A lane's Z report as the leader forwards it.
fn z_report(shift: u128, lane: u16, counted: i64) -> Value {
    json!({
        "shift_id": uuid::Uuid::from_u128(shift), "lane_no": lane, "opened_by": 3, "closed_by": 4,
        "opened_at": "2026-11-29T01:00:00Z", "closed_at": "2026-11-29T09:00:00Z",
        "opening_float": 200000, "transactions": 12, "items": 30.5, "gross_sales": 450000,
        "discounts": 0, "tax": 44595, "rounding": 0,
        "sales_by_method": { "cash": 300000, "card": 150000 },
        "refunds": 1, "refunds_by_method": { "cash": 10000 }, "pay_ins": 0, "pay_outs": 50000,
        "expected_cash": 440000, "counted_cash": counted, "over_short": counted - 440000
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn z_reports_are_kept_once_per_shift_and_listed() {
    for backend in backends() {
        let gw = Gateway::start(backend, "zreport", |_| {}).await;
        let admin = gw.admin().await;
        let (store, device) = gw.store_with_products(&admin, "JKT05", 1, 0).await;
        let (_, other_device) = gw.store_with_products(&admin, "JKT06", 1, 0).await;
        let body = |reports: Vec<Value>| json!({ "store_id": "JKT05", "data": { "shift_reports": reports } });
        let mut short = z_report(2, 2, 439_500);
        short["closed_at"] = json!("2026-11-29T10:00:00Z");
        let mut wrong = z_report(3, 1, 440_000);
        wrong["over_short"] = json!(5);
        let (s, v) = gw
            .post(
                "/api/sync/upload",
                &device,
                body(vec![z_report(1, 1, 440_000), short.clone(), wrong]),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{backend}: {v}");
        let r = &v["processed"]["shift_reports"];
        assert_eq!(
            (r["success"].as_u64(), r["failed"].as_u64()),
            (Some(2), Some(1)),
            "{v}"
        );
        assert!(
            r["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("over_short"),
            "{v}"
        );
        // Sent again (a new leader): duplicates; the same shift with another count: a conflict.
        let (s, v) = gw
            .post(
                "/api/sync/upload",
                &device,
                body(vec![z_report(1, 1, 440_000), z_report(2, 2, 440_000)]),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let statuses: Vec<&str> = v["processed"]["shift_reports"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["duplicate", "conflict"], "{backend}: {v}");
        // Another store cannot claim a shift this store reported.
        let (s, v) = gw
            .post(
                "/api/sync/upload",
                &other_device,
                json!({ "store_id": "JKT06", "data": { "shift_reports": [z_report(1, 1, 440_000)] } }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(
            v["processed"]["shift_reports"]["results"][0]["status"],
            "conflict"
        );
        // HQ lists them, the latest closed first, with every figure as the lane wrote it.
        let (s, v) = gw
            .get(
                &format!("/api/shift-reports?store_id={store}&from=2026-11-28T00:00:00Z&to=2026-11-30T00:00:00Z"),
                &admin,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{backend}: {v}");
        assert_eq!(v["meta"]["total"], 2, "{v}");
        let first = &v["data"][0];
        assert_eq!(first["lane_no"], 2);
        assert_eq!(first["over_short"], -500);
        assert_eq!(first["sales_by_method"]["card"], 150000);
        assert_eq!(first["items"], 30.5);
        assert_eq!(first["store_id"], store);
        let (s, v) = gw
            .get(
                &format!("/api/shift-reports?store_id={store}&lane_no=1&from=2026-11-28T00:00:00Z&to=2026-11-30T00:00:00Z"),
                &admin,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["meta"]["total"], 1, "{v}");
        // A device is not an analyst.
        let (s, _) = gw.get("/api/shift-reports", &device).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        gw.stop().await;
    }
}
