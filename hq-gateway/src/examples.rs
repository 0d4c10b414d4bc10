//! Examples of the gateway's own request and response bodies, as the OpenAPI document shows
//! them (a test parses each request example as its type). They name the data of a fresh
//! chain's first store: store `JKT-001` (id 1) selling product 1 (`TEH-BTL-350`) of category 1.

use serde_json::{Value, json};

pub fn new_product() -> Value {
    json!({
        "sku": "TEH-BTL-350", "barcode": "8991234567895", "name": "Teh Botol Sosro 350 ml",
        "description": "Teh melati dalam botol kaca", "category_id": 1, "brand": "Sosro",
        "unit": "pcs", "weight": 0.45, "dimensions": "6x6x21 cm", "cost_price": 3000,
        "suggested_price": 4500, "min_price": 4000, "max_price": 5000,
        "images": ["https://cdn.example.id/teh-botol.jpg"], "attributes": { "rasa": "melati" }
    })
}

pub fn product_changes() -> Value {
    json!({ "suggested_price": 4800, "max_price": 5500, "description": null })
}

pub fn store_product() -> Value {
    json!({ "selling_price": 4500, "stock_quantity": 120, "min_stock": 24, "max_stock": 480, "location": "Rak A3" })
}

pub fn new_store() -> Value {
    json!({
        "store_code": "BDG-002", "store_name": "Toko Bandung Dago", "address": "Jl. Ir. H. Juanda 102",
        "city": "Bandung", "province": "Jawa Barat", "postal_code": "40132", "phone": "+62 22 250 1234",
        "email": "dago@toko.example.id", "tax_rate": 11, "tax_inclusive": true, "cash_rounding": 100,
        "currency": "IDR", "timezone": "Asia/Jakarta"
    })
}

pub fn store_changes() -> Value {
    json!({ "store_name": "Toko Jakarta Pusat", "phone": "+62 21 555 0101" })
}

pub fn store_record() -> Value {
    json!({
        "id": 1, "store_code": "JKT-001", "store_name": "Toko Jakarta Pusat", "address": null,
        "city": "Jakarta", "province": null, "postal_code": null, "phone": null, "email": null,
        "manager_id": null, "tax_rate": 11, "tax_inclusive": true, "cash_rounding": 100,
        "currency": "IDR", "timezone": "Asia/Jakarta", "is_active": true,
        "last_sync": "2026-11-29T03:15:02Z", "created_at": "2026-11-01T00:00:00Z",
        "updated_at": "2026-11-01T00:00:00Z"
    })
}

pub fn new_device() -> Value {
    json!({ "name": "Kasir lajur 1" })
}

pub fn new_category() -> Value {
    json!({ "name": "Minuman", "description": "Minuman dingin dan panas", "sort_order": 1 })
}

pub fn category_changes() -> Value {
    json!({ "sort_order": 2 })
}

pub fn category_item() -> Value {
    json!({
        "id": 1, "name": "Minuman", "description": null, "parent_id": null, "sort_order": 1,
        "is_active": true, "created_at": "2026-11-01T00:00:00Z", "updated_at": "2026-11-01T00:00:00Z"
    })
}

pub fn new_user() -> Value {
    json!({
        "username": "budi.jkt", "email": "budi@toko.example.id", "full_name": "Budi Santoso",
        "role": "store_manager", "store_id": 1, "password": "Kopi-Tubruk-2026"
    })
}

pub fn user_changes() -> Value {
    json!({ "full_name": "Budi Santoso, S.E." })
}

pub fn user_item() -> Value {
    json!({
        "id": 2, "username": "budi.jkt", "email": "budi@toko.example.id", "full_name": "Budi Santoso",
        "role": "store_manager", "store_id": 1, "permissions": null, "is_active": true,
        "email_verified_at": null, "last_login": "2026-11-29T01:00:00Z",
        "created_at": "2026-11-01T00:00:00Z", "updated_at": "2026-11-01T00:00:00Z"
    })
}

pub fn new_customer() -> Value {
    json!({
        "name": "Siti Rahayu", "phone": "+62 812 3456 7890", "email": "siti@example.id",
        "city": "Jakarta", "date_of_birth": "1990-04-17", "gender": "female", "preferred_store_id": 1
    })
}

pub fn customer_changes() -> Value {
    json!({ "address": "Jl. Kebon Sirih 12", "email": null })
}

pub fn new_endpoint() -> Value {
    json!({ "url": "https://erp.example.id/hooks/kasir", "events": ["stock.low", "sync.failed"] })
}

pub fn refresh() -> Value {
    json!({ "refresh_token": "kr1.…" })
}
