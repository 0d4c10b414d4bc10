//! `POST /api/products/import` (issue #12): a catalog as a JSON array or CSV, matched by SKU,
//! all or nothing with errors named by row and field. On SQLite and (with
//! `KASIR_TEST_MYSQL_URL`) MariaDB.

mod common;

use common::{Gateway, backends};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn send(gw: &Gateway, token: &str, content_type: &str, body: String) -> (StatusCode, Value) {
    let resp = gw
        .client
        .post(format!("{}/api/products/import", gw.base))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}")),
    )
}

async fn product(gw: &Gateway, admin: &str, sku: &str) -> Value {
    let id = gw.product_id_by_sku(sku).await;
    let (s, v) = gw.get(&format!("/api/products/{id}"), admin).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

fn error_keys(v: &Value) -> Vec<String> {
    v["errors"].as_object().unwrap().keys().cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_imports_as_json_or_csv_all_or_nothing() {
    for backend in backends() {
        let gw = Gateway::start(backend, "import", |_| {}).await;
        let admin = gw.admin().await;
        let (s, v) = gw
            .post("/api/categories", &admin, json!({ "name": "Minuman" }))
            .await;
        assert!(s.is_success(), "{v}");
        let category = v["id"].as_u64().unwrap();
        // Creating: a JSON array.
        let rows = json!([
            { "sku": "TEH-350", "name": "Teh Botol 350 ml", "barcode": "8991234567895",
              "category_id": category, "cost_price": 3000, "suggested_price": 4500, "brand": "Sosro" },
            { "sku": "KOPI-250", "name": "Kopi Bubuk Toraja 250 g", "unit": "pack",
              "barcode": "8990000000031", "suggested_price": 52000, "attributes": { "roast": "medium" } },
            { "sku": "BERAS-5", "name": "Beras Pandan Wangi 5 kg", "barcode": "8990000000017",
              "weight": 5, "suggested_price": 78000 }
        ]);
        let (s, v) = send(&gw, &admin, "application/json", rows.to_string()).await;
        assert_eq!(s, StatusCode::OK, "{backend}: {v}");
        assert_eq!(
            (
                v["rows"].as_u64(),
                v["created"].as_u64(),
                v["updated"].as_u64()
            ),
            (Some(3), Some(3), Some(0)),
            "{v}"
        );
        let teh = product(&gw, &admin, "TEH-350").await;
        assert_eq!(teh["brand"], "Sosro");
        assert_eq!(teh["category_id"].as_u64(), Some(category));
        assert_eq!(
            product(&gw, &admin, "KOPI-250").await["attributes"]["roast"],
            "medium"
        );
        // The same file again changes nothing, not even updated_at (what stores download by).
        let (s, v) = send(&gw, &admin, "application/json", rows.to_string()).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["unchanged"].as_u64(), Some(3), "{v}");
        assert_eq!(
            product(&gw, &admin, "TEH-350").await["updated_at"],
            teh["updated_at"]
        );
        // Changing: CSV with a header; only the columns it has change, an empty cell clears,
        // quoted cells keep their commas, barcodes may move between the file's products.
        let csv = "\u{feff}sku,name,suggested_price,barcode\n\
                   TEH-350,\"Teh Botol, manis 350 ml\",5000,8990000000017\n\
                   BERAS-5,Beras Pandan Wangi 5 kg,78000,8991234567895\n\
                   KOPI-250,Kopi Bubuk Toraja 250 g,52000,\n\
                   SUSU-1L,Susu UHT 1 L,18500,8990000000024\n";
        let (s, v) = send(&gw, &admin, "text/csv; charset=utf-8", csv.into()).await;
        assert_eq!(s, StatusCode::OK, "{backend}: {v}");
        assert_eq!(
            (
                v["created"].as_u64(),
                v["updated"].as_u64(),
                v["unchanged"].as_u64()
            ),
            (Some(1), Some(3), Some(0)),
            "{v}"
        );
        let teh = product(&gw, &admin, "TEH-350").await;
        assert_eq!(teh["name"], "Teh Botol, manis 350 ml");
        assert_eq!(teh["suggested_price"].as_f64(), Some(5000.0));
        assert_eq!(teh["barcode"], "8990000000017");
        assert_eq!(
            teh["brand"], "Sosro",
            "a column the file lacks keeps its value"
        );
        assert_eq!(
            product(&gw, &admin, "BERAS-5").await["barcode"],
            "8991234567895"
        );
        assert!(product(&gw, &admin, "KOPI-250").await["barcode"].is_null());
        assert_eq!(product(&gw, &admin, "SUSU-1L").await["unit"], "pcs");
        // Refused as a whole, each error by row and field; nothing written.
        let before = gw.scalar("SELECT COUNT(*) FROM products").await;
        let bad = json!([
            { "sku": "OK-1", "name": "Fine" },
            { "sku": "TEH-350", "suggested_price": -1 },
            { "sku": "OK-1", "name": "Again" },
            { "sku": "NEW-1" },
            { "sku": "NEW-2", "name": "Taken barcode", "barcode": "8990000000024" },
            { "sku": "NEW-3", "name": "Colour", "colour": "red" },
            { "sku": "NEW-4", "name": "No such category", "category_id": 999 },
            { "name": "No SKU" },
            "not an object",
            { "sku": "NEW-5", "name": "Same barcode as OK-2", "barcode": "123" },
            { "sku": "OK-2", "name": "Barcode 123", "barcode": "123" }
        ]);
        let (s, v) = send(&gw, &admin, "application/json", bad.to_string()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{backend}: {v}");
        let mut keys = error_keys(&v);
        keys.sort();
        let mut want = vec![
            "2.suggested_price",
            "3.sku",
            "4.name",
            "5.barcode",
            "6.colour",
            "7.category_id",
            "8.sku",
            "9.row",
            "11.barcode",
        ];
        want.sort();
        assert_eq!(keys, want, "{v}");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .starts_with("Nothing was imported: 9 error(s)"),
            "{v}"
        );
        assert!(
            v["errors"]["5.barcode"][0]
                .as_str()
                .unwrap()
                .contains("SUSU-1L"),
            "{v}"
        );
        assert_eq!(gw.scalar("SELECT COUNT(*) FROM products").await, before);
        // A CSV cell that is not a number, and a header that is not a column.
        let (s, v) = send(
            &gw,
            &admin,
            "text/csv",
            "sku,name,cost_price\nX-1,Satu,3.000,00\n".into(),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert_eq!(
            error_keys(&v),
            vec!["1.row"],
            "a row with a cell too many: {v}"
        );
        let (s, v) = send(
            &gw,
            &admin,
            "text/csv",
            "sku,name,cost_price\nX-1,Satu,Rp 3.000\n".into(),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert_eq!(error_keys(&v), vec!["1.cost_price"], "{v}");
        let (s, v) = send(&gw, &admin, "text/csv", "sku,nama\nX-1,Satu\n".into()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert_eq!(error_keys(&v), vec!["header"], "{v}");
        // Bodies that are no import at all.
        let (s, v) = send(&gw, &admin, "application/json", "[]".into()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        let (s, v) = send(&gw, &admin, "application/json", r#"{"sku":"A"}"#.into()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        let (s, v) = send(&gw, &admin, "application/xml", "<p/>".into()).await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{v}");
        // The stores see the import in their download.
        let (store, device) = gw.store_with_products(&admin, "JKT-01", 0, 0).await;
        let id = gw.product_id_by_sku("TEH-350").await;
        let (s, v) = gw
            .put(
                &format!("/api/stores/{store}/products/{id}"),
                &admin,
                json!({ "selling_price": 5000 }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, v) = gw.get("/api/sync/download/JKT-01", &device).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let names: Vec<&str> = v["data"]["products"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"Teh Botol, manis 350 ml"), "{names:?}");
        gw.stop().await;
    }
}
