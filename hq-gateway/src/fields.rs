//! Checks of the seed's master-data fields (§2.2), each answering with the field's name and a
//! sentence, shared by every route that writes them.

use kasir_schema::Decimal;
use serde::{Deserialize, Deserializer};

use crate::error::ApiError;

/// For `PUT` bodies: absent (`None`: leave as is), `null` (`Some(None)`: clear), or a value.
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Applies one field of a `PUT` body: `Some` replaces the value, `None` leaves it.
pub fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

/// Refuses a reference to a row that is not there: `count_sql` counts the rows with the id
/// (`SELECT COUNT(*) FROM … WHERE id = ? …`); none answers a 409 on `field` with `message`.
pub async fn must_exist(
    db: &crate::db::Db,
    count_sql: &'static str,
    id: Option<u64>,
    field: &str,
    message: &str,
) -> Result<(), ApiError> {
    let Some(id) = id else { return Ok(()) };
    let n: i64 = crate::on_db!(db, |pool, B| {
        sqlx::query_scalar(count_sql)
            .bind(crate::db::to_i64(id))
            .fetch_one(pool)
            .await?
    });
    if n == 0 {
        return Err(ApiError::missing(field, message));
    }
    Ok(())
}

/// Optional free text of at most `max` characters, trimmed; empty becomes `None`.
pub fn opt_text(field: &str, v: Option<&str>, max: usize) -> Result<Option<String>, ApiError> {
    if v.is_some_and(|v| v.chars().count() > max) {
        return Err(ApiError::field(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    // Control characters are looked for before trimming: U+0085 is white space to `trim`
    // and a control character to the documented pattern.
    if v.is_some_and(|v| v.chars().any(|c| c.is_control() && c != '\n' && c != '\t')) {
        return Err(ApiError::field(
            field,
            "must not contain control characters",
        ));
    }
    let Some(t) = v.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    Ok(Some(t.to_string()))
}

/// Optional text of at most `max` characters with a shape (`f`: e-mail, phone, …); blank is
/// none. The length counts the text as sent; then the spaces around it are dropped — only
/// spaces: other white space is not part of any shape, as the documented patterns say.
pub fn opt_shaped(
    field: &str,
    v: Option<&str>,
    max: usize,
    f: fn(&str, &str) -> Result<String, ApiError>,
) -> Result<Option<String>, ApiError> {
    let Some(v) = v else { return Ok(None) };
    if v.chars().count() > max {
        return Err(ApiError::field(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    match v.trim_matches(' ') {
        "" => Ok(None),
        t => f(field, t).map(Some),
    }
}

/// An optional barcode: 1 to 255 printable ASCII characters without spaces; blank is none.
pub fn opt_barcode(field: &str, v: Option<&str>) -> Result<Option<String>, ApiError> {
    opt_shaped(field, v, 255, |field, t| {
        if t.chars().all(|c| c.is_ascii_graphic()) {
            Ok(t.to_string())
        } else {
            Err(ApiError::field(
                field,
                "must be 1 to 255 printable characters without spaces",
            ))
        }
    })
}

/// `male`, `female` or `other`.
pub fn gender(field: &str, v: &str) -> Result<String, ApiError> {
    match v.trim_matches(' ') {
        g @ ("male" | "female" | "other") => Ok(g.to_string()),
        _ => Err(ApiError::field(field, "must be male, female or other")),
    }
}

/// An e-mail address: one `@`, something before it, a dotted domain after it, no spaces, at
/// most 255 characters.
pub fn email(field: &str, v: &str) -> Result<String, ApiError> {
    let t = v.trim_matches(' ');
    let bad = || ApiError::field(field, "must be an e-mail address like name@example.com");
    if v.chars().count() > 255 || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = t.split_once('@').ok_or_else(bad)?;
    let labels_ok = domain.split('.').count() >= 2
        && domain.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if local.is_empty() || local.chars().count() > 64 || domain.contains('@') || !labels_ok {
        return Err(bad());
    }
    Ok(t.to_string())
}

/// A phone number as people write it: digits with an optional leading `+`, spaces, `-`, `.`
/// and parentheses; 6 to 15 digits, at most 20 characters (the seed's column).
pub fn phone(field: &str, v: &str) -> Result<String, ApiError> {
    let t = v.trim_matches(' ');
    let digits = t.chars().filter(char::is_ascii_digit).count();
    let body = t.strip_prefix('+').unwrap_or(t);
    let ok = v.chars().count() <= 20
        && (6..=15).contains(&digits)
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || " -.()".contains(c));
    if !ok {
        return Err(ApiError::field(
            field,
            "must be a phone number: 6 to 15 digits, optionally + ( ) - . and spaces, at most 20 characters",
        ));
    }
    Ok(t.to_string())
}

/// A postal code: 1 to 10 letters, digits, spaces or `-`.
pub fn postal_code(field: &str, v: &str) -> Result<String, ApiError> {
    let t = v.trim_matches(' ');
    if t.is_empty()
        || v.chars().count() > 10
        || !t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
    {
        return Err(ApiError::field(
            field,
            "must be 1 to 10 letters, digits, spaces or -",
        ));
    }
    Ok(t.to_string())
}

/// An `http://` or `https://` URL of at most 2000 characters: a host of letters, digits, `.`
/// and `-` (beginning with a letter or digit), an optional port of up to 5 digits, and a path
/// of printable ASCII (the OpenAPI document's pattern for `url`, exactly).
pub fn http_url(v: &str) -> bool {
    let Some(rest) = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"))
    else {
        return false;
    };
    let end = rest.find([':', '/']).unwrap_or(rest.len());
    let (host, mut rest) = rest.split_at(end);
    let host_ok = host
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if let Some(after) = rest.strip_prefix(':') {
        let digits = after.find('/').unwrap_or(after.len());
        if !(1..=5).contains(&digits) || !after[..digits].bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        rest = &after[digits..];
    }
    v.chars().count() <= 2000
        && host_ok
        && (rest.is_empty() || rest.starts_with('/'))
        && rest.bytes().all(|b| (b'!'..=b'~').contains(&b))
}

/// An ISO 4217 currency code: three capital letters.
pub fn currency(field: &str, v: &str) -> Result<String, ApiError> {
    if v.len() != 3 || !v.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ApiError::field(
            field,
            "must be an ISO 4217 code of three capital letters, like IDR",
        ));
    }
    Ok(v.to_string())
}

/// An IANA time zone name (`Asia/Jakarta`, `UTC`): letters, digits, `_`, `-`, `+` in up to
/// three `/`-separated parts, at most 50 characters (the seed's column).
pub fn timezone(field: &str, v: &str) -> Result<String, ApiError> {
    let parts: Vec<&str> = v.split('/').collect();
    let ok = !v.is_empty()
        && v.len() <= 50
        && parts.len() <= 3
        && parts.iter().all(|p| {
            p.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-+".contains(c))
        });
    if !ok {
        return Err(ApiError::field(
            field,
            "must be an IANA time zone name like Asia/Jakarta",
        ));
    }
    Ok(v.to_string())
}

/// Money that is not negative and fits the columns (`DECIMAL(15,2)`).
pub fn price(field: &str, v: Decimal) -> Result<Decimal, ApiError> {
    if v < Decimal::ZERO {
        return Err(ApiError::field(field, "must not be negative"));
    }
    crate::db::check_money(v).map_err(|e| ApiError::field(field, e.message))?;
    Ok(v)
}

/// `min_price ≤ suggested_price ≤ max_price`, for the bounds that are set.
pub fn price_bounds(
    min: Option<Decimal>,
    suggested: Option<Decimal>,
    max: Option<Decimal>,
) -> Result<(), ApiError> {
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        return Err(ApiError::field("min_price", "must not exceed max_price"));
    }
    if let (Some(lo), Some(s)) = (min, suggested)
        && s < lo
    {
        return Err(ApiError::field(
            "suggested_price",
            "must not be below min_price",
        ));
    }
    if let (Some(hi), Some(s)) = (max, suggested)
        && s > hi
    {
        return Err(ApiError::field(
            "suggested_price",
            "must not be above max_price",
        ));
    }
    Ok(())
}

/// The largest JSON value (`images`, `attributes`, `permissions`) stored, serialized.
pub const MAX_JSON_BYTES: usize = 16 * 1024;

/// A JSON value of the expected shape (`array` of strings for images, `object` for
/// attributes and permissions), at most [`MAX_JSON_BYTES`] serialized and 4 levels deep.
pub fn json(field: &str, v: &serde_json::Value, shape: JsonShape) -> Result<String, ApiError> {
    fn depth(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
            serde_json::Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }
    let ok = match (shape, v) {
        (JsonShape::Strings, serde_json::Value::Array(a)) => {
            a.len() <= kasir_schema::api_schema::MAX_IMAGES
                && a.iter().all(|s| {
                    s.as_str()
                        .is_some_and(|s| !s.is_empty() && s.chars().count() <= 500)
                })
        }
        (JsonShape::Object, serde_json::Value::Object(_)) => depth(v) <= 4,
        _ => false,
    };
    if !ok {
        return Err(ApiError::field(
            field,
            match shape {
                JsonShape::Strings => {
                    "must be an array of at most 20 strings (URLs) of 1 to 500 characters"
                }
                JsonShape::Object => "must be a JSON object nested at most 4 levels",
            },
        ));
    }
    let s = v.to_string();
    if shape == JsonShape::Object && s.len() > MAX_JSON_BYTES {
        return Err(ApiError::field(
            field,
            format!("must be at most {MAX_JSON_BYTES} bytes of JSON"),
        ));
    }
    Ok(s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonShape {
    Strings,
    Object,
}

/// A stored JSON column read back (`NULL` or unreadable text is `None`).
pub fn parse_stored_json(v: Option<String>) -> Option<serde_json::Value> {
    v.and_then(|s| serde_json::from_str(&s).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_http_with_a_plain_host() {
        for ok in [
            "https://erp.example.id/hooks/kasir",
            "http://127.0.0.1:8080/x?y=1",
            "https://a",
        ] {
            assert!(http_url(ok), "{ok}");
        }
        for bad in [
            "ftp://x.id",
            "https://",
            "https://5H*",
            "https://-x.id",
            "https://x.id:123456/",
            "https://x.id:/",
            "https://x.id/a b",
            "https://x.id?q",
            "https://x.id/é",
        ] {
            assert!(!http_url(bad), "{bad}");
        }
    }

    #[test]
    fn shapes_people_write_pass_and_garbage_does_not() {
        for ok in ["siti@example.co.id", "a.b+c@toko-1.id"] {
            assert!(email("email", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "siti",
            "siti@",
            "@x.id",
            "siti@x",
            "si ti@x.id",
            "a@b@c.id",
            "a@-x.id",
        ] {
            assert!(email("email", bad).is_err(), "{bad}");
        }
        for ok in ["+62 21 555-0101", "(021) 5550101", "081234567890"] {
            assert!(phone("phone", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "12345",
            "+62 21 555 0101 555 0101",
            "0812-abc-999",
            "++62812345",
        ] {
            assert!(phone("phone", bad).is_err(), "{bad}");
        }
        assert!(timezone("timezone", "Asia/Jakarta").is_ok());
        assert!(timezone("timezone", "America/Argentina/Buenos_Aires").is_ok());
        assert!(timezone("timezone", "UTC").is_ok());
        for bad in ["", "Asia/", "/Jakarta", "Asia Jakarta", "1Asia/Jakarta"] {
            assert!(timezone("timezone", bad).is_err(), "{bad}");
        }
        assert!(currency("currency", "IDR").is_ok());
        assert!(currency("currency", "idr").is_err());
        assert!(postal_code("postal_code", "10110").is_ok());
        assert!(postal_code("postal_code", "10110-12345").is_err());
    }

    /// The document's shapes (`pattern` and `maxLength`) and the validators say the same of
    /// every sample, padded ones included: what one admits the other accepts.
    #[test]
    fn the_documented_shapes_and_the_validators_agree() {
        use kasir_schema::api_schema as doc;
        let mut g = schemars::SchemaGenerator::default();
        type Check = fn(&str) -> bool;
        let shapes: [(&str, schemars::Schema, Check); 7] = [
            ("opt text", doc::opt_text::<10>(&mut g), |v| {
                opt_text("f", Some(v), 10).is_ok()
            }),
            ("email", doc::email(&mut g), |v| email("f", v).is_ok()),
            ("opt email", doc::opt_email(&mut g), |v| {
                opt_shaped("f", Some(v), 255, email).is_ok()
            }),
            ("opt phone", doc::opt_phone(&mut g), |v| {
                opt_shaped("f", Some(v), 20, phone).is_ok()
            }),
            ("opt postal code", doc::opt_postal_code(&mut g), |v| {
                opt_shaped("f", Some(v), 10, postal_code).is_ok()
            }),
            ("opt barcode", doc::opt_barcode(&mut g), |v| {
                opt_barcode("f", Some(v)).is_ok()
            }),
            ("opt gender", doc::opt_gender(&mut g), |v| {
                opt_shaped("f", Some(v), 10, gender).is_ok()
            }),
        ];
        let long = |c: &str, n: usize| c.repeat(n);
        let samples = [
            String::new(),
            "   ".into(),
            "siti@example.co.id".into(),
            " siti@example.co.id ".into(),
            format!("{}@x.id", long("a", 64)),
            format!(" {}@x.id", long("a", 65)),
            format!("{}@{}.id", long("a", 60), long("b", 190)),
            format!(" {}@{}.id", long("a", 60), long("b", 190)),
            "+62 21 555-0101".into(),
            " +62 21 555-0101 ".into(),
            "   +62 21 555-01011".into(),
            "10110".into(),
            " 10110 ".into(),
            "  1011012 ".into(),
            "8991234567895".into(),
            " 8991234567895 ".into(),
            "899 123".into(),
            long("7", 255),
            format!(" {}", long("7", 255)),
            format!(" {} ", long("7", 253)),
            "\u{85}8991234567895".into(),
            "\u{a0}siti@example.co.id".into(),
            "\t081234567890".into(),
            "10110\u{2003}".into(),
            " female ".into(),
            "\u{a0}male".into(),
            "  other    ".into(),
            "\u{85}\u{b4}".into(),
            "Rak A3\u{85}".into(),
            "\tRak\nA3 ".into(),
        ];
        for (name, schema, check) in shapes {
            let max =
                usize::try_from(schema.get("maxLength").and_then(|m| m.as_u64()).unwrap()).unwrap();
            let pattern =
                regex::Regex::new(schema.get("pattern").unwrap().as_str().unwrap()).unwrap();
            for s in &samples {
                let documented = s.chars().count() <= max && pattern.is_match(s);
                assert_eq!(documented, check(s), "{name} on {s:?}");
            }
        }
    }

    #[test]
    fn price_bounds_hold_for_the_bounds_given() {
        let d = |n: i64| Some(Decimal::from(n));
        assert!(price_bounds(d(1), d(2), d(3)).is_ok());
        assert!(price_bounds(None, d(2), None).is_ok());
        assert!(price_bounds(d(3), None, d(1)).is_err());
        assert!(price_bounds(d(3), d(2), None).is_err());
        assert!(price_bounds(None, d(4), d(3)).is_err());
        assert!(price("p", Decimal::new(-1, 0)).is_err());
    }

    #[test]
    fn json_columns_are_bounded_and_shaped() {
        let images = serde_json::json!(["https://cdn.example/a.jpg"]);
        assert!(json("images", &images, JsonShape::Strings).is_ok());
        assert!(json("images", &serde_json::json!({"a": 1}), JsonShape::Strings).is_err());
        assert!(json("images", &serde_json::json!([1]), JsonShape::Strings).is_err());
        let attrs = serde_json::json!({"color": "red", "size": {"w": 1}});
        assert!(json("attributes", &attrs, JsonShape::Object).is_ok());
        let deep = serde_json::json!({"a": {"b": {"c": {"d": {"e": 1}}}}});
        assert!(json("attributes", &deep, JsonShape::Object).is_err());
        let big = serde_json::json!({ "x": "y".repeat(MAX_JSON_BYTES) });
        assert!(json("attributes", &big, JsonShape::Object).is_err());
    }
}
