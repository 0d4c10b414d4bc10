//! JSON Schemas of the wire types (for the gateway's OpenAPI document), written beside the
//! types with `schemars` so the document cannot drift from what serde reads and writes.
//!
//! The bounds here are the ones the gateway enforces: a body the schema admits is one the API
//! accepts (unless it names a row that is not there, or breaks a rule between fields that JSON
//! Schema cannot state, like `min_price ≤ max_price`).

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

/// `10^13`: every amount is below it (`DECIMAL(15,2)`), see [`crate::money::MAX_ABS_AMOUNT`].
const MONEY_LIMIT: i64 = 10_000_000_000_000;
/// `10^9`: every quantity is below it (`DECIMAL(12,3)`).
const QTY_LIMIT: i64 = 1_000_000_000;

/// An amount of money that is not negative: a JSON number with at most two decimals.
pub fn money(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "number", "minimum": 0, "exclusiveMaximum": MONEY_LIMIT, "multipleOf": 0.01 })
}

/// An amount that may be negative (a refund, a rounding).
pub fn signed_money(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "number", "exclusiveMinimum": -MONEY_LIMIT, "exclusiveMaximum": MONEY_LIMIT, "multipleOf": 0.01 })
}

/// A stock level or limit (not negative), at most three decimals.
pub fn stock(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "number", "minimum": 0, "exclusiveMaximum": QTY_LIMIT, "multipleOf": 0.001 })
}

/// A signed quantity (what a movement adds to stock), at most three decimals.
pub fn signed_quantity(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "number", "exclusiveMinimum": -QTY_LIMIT, "exclusiveMaximum": QTY_LIMIT, "multipleOf": 0.001 })
}

/// A quantity sold or moved: positive, at most three decimals.
pub fn positive_quantity(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": QTY_LIMIT, "multipleOf": 0.001 })
}

/// A number as the API writes it (responses): exact, never a float.
pub fn number(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "number" })
}

/// Amounts per payment method: an object whose keys are payment methods.
pub fn amounts_by_method(_: &mut SchemaGenerator) -> Schema {
    let methods: Vec<&str> = crate::payment::PaymentMethod::ALL
        .iter()
        .map(|m| m.as_str())
        .collect();
    json_schema!({
        "type": "object",
        "propertyNames": { "enum": methods },
        "additionalProperties": { "type": "number" }
    })
}

/// `Option` of [`number`].
pub fn opt_number(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": ["number", "null"] })
}

/// `Option` of [`money`].
pub fn opt_money(g: &mut SchemaGenerator) -> Schema {
    nullable(money(g))
}

/// The schema that also admits `null`.
pub fn nullable(mut s: Schema) -> Schema {
    if let Some(serde_json::Value::String(t)) = s.get("type").cloned() {
        s.insert("type".into(), serde_json::json!([t, "null"]));
    }
    if let Some(serde_json::Value::Array(e)) = s.get_mut("enum") {
        e.push(serde_json::Value::Null);
    }
    s
}

/// A text of at most `max` characters that is not blank (the API trims it).
pub fn text_schema(max: usize) -> Schema {
    json_schema!({ "type": "string", "minLength": 1, "maxLength": max, "pattern": TEXT_PATTERN })
}

/// Text without control characters (tab and newline allowed), with something visible in it.
pub const TEXT_PATTERN: &str =
    r"^[^\x00-\x08\x0B-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B-\x1F\x7F-\x9F]*$";

/// A schema of a string with a pattern and a length (`min..=max` characters).
pub fn pattern(p: &str, min: usize, max: usize) -> Schema {
    json_schema!({ "type": "string", "minLength": min, "maxLength": max, "pattern": p })
}

/// Implements `JsonSchema` for a string-like type with a pattern.
macro_rules! string_schema {
    ($ty:ty, $name:literal, $pattern:expr, $min:expr, $max:expr) => {
        impl schemars::JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                $crate::api_schema::pattern($pattern, $min, $max)
            }
        }
    };
}
pub(crate) use string_schema;

/// Required text of 1 to `N` characters, not blank.
pub fn text<const N: usize>(_: &mut SchemaGenerator) -> Schema {
    text_schema(N)
}

/// Optional text of at most `N` characters (blank means none).
pub fn opt_text<const N: usize>(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": ["string", "null"], "maxLength": N, "pattern": FREE_TEXT_PATTERN })
}

/// Text without control characters other than tab and newline.
pub const FREE_TEXT_PATTERN: &str = r"^[^\x00-\x08\x0B-\x1F\x7F-\x9F]*$";

/// An optional shaped value (`pattern`) of at most `max` characters: blank means none.
fn opt_shaped(pattern: &str, max: usize) -> Schema {
    json_schema!({ "type": ["string", "null"], "maxLength": max, "pattern": format!("^ *$|{pattern}") })
}

/// An e-mail address like `name@example.com` (ASCII domain, at most 255 characters; spaces
/// around it are trimmed, so the shape admits them).
pub const EMAIL_PATTERN: &str = r"^ *[^\s@\x00-\x1F\x7F-\x9F]{1,64}@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+ *$";
/// A phone number: 6 to 15 digits, an optional leading `+`, spaces, `-`, `.`, parentheses.
pub const PHONE_PATTERN: &str = r"^ *\+?[ ().-]*([0-9][ ().-]*){6,15}$";
/// A postal code: 1 to 10 letters, digits, spaces or `-`.
pub const POSTAL_CODE_PATTERN: &str = r"^[A-Za-z0-9 -]*[A-Za-z0-9-][A-Za-z0-9 -]*$";

pub fn opt_email(_: &mut SchemaGenerator) -> Schema {
    opt_shaped(EMAIL_PATTERN, 255)
}
pub fn opt_phone(_: &mut SchemaGenerator) -> Schema {
    opt_shaped(PHONE_PATTERN, 20)
}
pub fn opt_postal_code(_: &mut SchemaGenerator) -> Schema {
    opt_shaped(POSTAL_CODE_PATTERN, 10)
}

/// An ISO 4217 currency code.
pub fn currency(_: &mut SchemaGenerator) -> Schema {
    pattern("^[A-Z]{3}$", 3, 3)
}

/// An IANA time zone name like `Asia/Jakarta`.
pub fn timezone(_: &mut SchemaGenerator) -> Schema {
    pattern(
        "^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z][A-Za-z0-9_+-]*){0,2}$",
        1,
        50,
    )
}

/// A time a record carries, from the year 2000 on (RFC 3339, like `2026-11-29T03:15:00Z`), or
/// `null`.
pub fn opt_record_time(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": ["string", "null"], "format": "date-time", "pattern": "^[2-9][0-9]{3}-" })
}

/// A tax rate in percent: 0 to 100, two decimals.
pub fn tax_rate(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "number", "minimum": 0, "maximum": 100, "multipleOf": 0.01 })
}

/// A barcode: printable ASCII without spaces (blank means none; spaces around it are
/// trimmed, but count towards the 255 characters like every text field's).
pub fn opt_barcode(_: &mut SchemaGenerator) -> Schema {
    opt_shaped("^ *[!-~]* *$", 255)
}

/// A weight in kilograms: 0 to 999999.99.
pub fn opt_weight(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": ["number", "null"], "minimum": 0, "exclusiveMaximum": 1_000_000, "multipleOf": 0.01 })
}

/// The most image URLs a product keeps.
pub const MAX_IMAGES: usize = 20;

/// Image URLs: up to [`MAX_IMAGES`] strings of 1 to 500 characters.
pub fn opt_images(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": ["array", "null"], "maxItems": MAX_IMAGES,
        "items": { "type": "string", "minLength": 1, "maxLength": 500 } })
}

/// A JSON object nested at most 4 levels (at most 16 KiB of JSON).
pub fn opt_attributes(_: &mut SchemaGenerator) -> Schema {
    // Level by level: an object's values may be objects or arrays only three levels further.
    fn level(n: usize) -> serde_json::Value {
        if n == 0 {
            return serde_json::json!({ "type": ["string", "number", "boolean", "null"] });
        }
        let inner = level(n - 1);
        serde_json::json!({ "anyOf": [
            { "type": ["string", "number", "boolean", "null"] },
            { "type": "array", "items": inner.clone() },
            { "type": "object", "additionalProperties": inner },
        ] })
    }
    json_schema!({ "type": ["object", "null"], "additionalProperties": level(3) })
}

/// The units a product may be sold in.
pub const UNITS: &[&str] = &["pcs", "kg", "g", "l", "ml", "pack", "box"];

pub fn unit(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "enum": UNITS })
}

/// A store code: 1 to 50 letters, digits, `-` or `_`, beginning and ending with a letter or
/// digit.
pub fn store_code(g: &mut SchemaGenerator) -> Schema {
    <crate::txn_number::StoreCode as JsonSchema>::json_schema(g)
}

/// A new store's code: a [`store_code`] with a letter in it, so it is never mistaken for a
/// store's numeric id.
pub fn new_store_code(_: &mut SchemaGenerator) -> Schema {
    pattern(
        "^([0-9][0-9_-]*)?[A-Za-z]([A-Za-z0-9_-]*[A-Za-z0-9])?$",
        1,
        crate::txn_number::MAX_STORE_CODE,
    )
}

/// `male`, `female` or `other` (blank means none).
pub fn opt_gender(_: &mut SchemaGenerator) -> Schema {
    opt_shaped("^ *(male|female|other) *$", 10)
}

/// A required e-mail address.
pub fn email(_: &mut SchemaGenerator) -> Schema {
    pattern(EMAIL_PATTERN, 3, 255)
}

/// For `PUT` bodies, where `null` (like leaving the field out) keeps the value: the field's
/// schema with `null` admitted.
macro_rules! or_null {
    ($($name:ident => $inner:expr;)*) => {$(
        #[doc = concat!("[`", stringify!($inner), "`] or `null` (keep the value).")]
        pub fn $name(g: &mut SchemaGenerator) -> Schema {
            nullable($inner(g))
        }
    )*};
}

or_null! {
    or_null_money => money;
    or_null_stock => stock;
    or_null_tax_rate => tax_rate;
    or_null_currency => currency;
    or_null_timezone => timezone;
    or_null_unit => unit;
    or_null_email => email;
}

/// [`text`] or `null` (keep the value).
pub fn or_null_text<const N: usize>(_: &mut SchemaGenerator) -> Schema {
    nullable(text_schema(N))
}

/// `PUT /api/products/{id}/stock`: what `quantity` and the store fields may be for each
/// `movement_type` (stock comes in or goes out by a positive quantity; an adjustment changes it
/// by a signed one; only a transfer names the store it goes to).
pub fn stock_update_variants(schema: &mut Schema) {
    let none = serde_json::json!({ "type": "null" });
    let positive = serde_json::json!({ "type": "number", "exclusiveMinimum": 0 });
    let variants = serde_json::json!([
        { "type": "object", "properties": { "movement_type": { "enum": ["in", "out"] }, "quantity": positive,
                          "from_store_id": none, "to_store_id": none } },
        { "type": "object", "properties": { "movement_type": { "const": "adjustment" }, "quantity": { "type": "number", "not": { "const": 0 } },
                          "from_store_id": none, "to_store_id": none } },
        { "type": "object", "properties": { "movement_type": { "const": "transfer" }, "quantity": positive,
                          "to_store_id": { "type": "integer" } },
          "required": ["to_store_id"] },
    ]);
    schema.insert("anyOf".into(), variants);
}

/// A password has a letter (A–Z) and a digit (and 12 to 1024 characters, not the username).
pub const PASSWORD_PATTERN: &str = r"^[\s\S]*([A-Za-z][\s\S]*[0-9]|[0-9][\s\S]*[A-Za-z])[\s\S]*$";

/// Examples of the wire types, as the OpenAPI document shows them (each one is checked to
/// parse as its type). They name the data of a fresh chain's first store: store `JKT-001`
/// (id 1) selling product 1 (SKU `TEH-BTL-350`, barcode `8991234567895`).
pub mod examples {
    use serde_json::{Value, json};

    pub fn login() -> Value {
        json!({ "username": "siti.kasir", "password": "Teh-Botol-2026", "store_id": "JKT-001" })
    }

    pub fn upload() -> Value {
        json!({
            "store_id": "JKT-001",
            "data": {
                "transactions": [{
                    "transaction_number": "JKT-001-001-00000042",
                    "cashier_id": 1,
                    "transaction_date": "2026-11-29T03:15:00Z",
                    "subtotal": 9000, "tax_amount": 892, "discount_amount": 0, "total_amount": 9000,
                    "payment_method": "cash", "payment_status": "paid",
                    "change_amount": 1000,
                    "details": [{ "product_id": 1, "quantity": 2, "unit_price": 4500,
                                  "discount_amount": 0, "total_price": 9000, "tax_amount": 892 }],
                    "payments": [{ "payment_method": "cash", "amount": 10000 }]
                }],
                "customers": [],
                "stock_movements": []
            }
        })
    }

    pub fn stock_update() -> Value {
        json!({ "store_id": 1, "quantity": 24, "movement_type": "in", "notes": "PO-2026-118 diterima", "reference_id": 118 })
    }

    pub fn health() -> Value {
        json!({
            "status": "healthy",
            "checks": {
                "database": { "status": "ok", "message": "mysql connection successful" },
                "queue": { "status": "ok", "message": "0 failed uploads in the last hour; webhooks: 0 pending, 0 given up" }
            },
            "timestamp": "2026-11-29T03:15:00Z"
        })
    }
}
