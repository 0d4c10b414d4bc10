//! `POST /api/products/import`: a chain's catalog in one request (or in chunks), as a JSON
//! array of products or as CSV with a header row.
//!
//! - **Keyed by SKU.** A row whose SKU HQ holds changes that product: only the columns the row
//!   carries (a JSON key, a CSV column; an empty CSV cell clears an optional column). A new
//!   SKU creates a product and needs a `name`; the rest take the defaults of
//!   `POST /api/products`. A row that changes nothing leaves the product (and its
//!   `updated_at`, which the stores' downloads follow) alone, so importing a file twice
//!   changes nothing the second time.
//! - **All or nothing.** Every row is checked before anything is written: the columns and
//!   rules of `POST /api/products`, SKUs and barcodes unique within the file and against the
//!   products the file does not touch, categories that exist. Any error refuses the whole
//!   request (422), each error named by row and field (`"3.suggested_price"`: row 3 counted
//!   from 1 without the header); otherwise one transaction writes every row.
//! - **Size.** At most [`MAX_IMPORT_ROWS`] rows and the gateway's body limit (8 MiB by
//!   default, counted after decompression: a gzip- or zstd-compressed body carries about five
//!   times as many rows) per request; a larger catalog goes in chunks, each all or nothing.

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use chrono::Utc;
use schemars::{JsonSchema, SchemaGenerator};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sqlx::Row;

use crate::AppState;
use crate::auth::Principal;
use crate::db::{Db, to_i64, to_u64};
use crate::error::{ApiError, ApiResult};
use crate::extract::parse_value;
use crate::on_db;
use crate::openapi::{DocInput, Operation};
use crate::products::{
    PRODUCT_COLUMNS, ProductChanges, ProductFields, ProductRecord, UPDATE_PRODUCT,
    bind_product_fields, product_from_row,
};

/// The most rows one request may carry.
pub const MAX_IMPORT_ROWS: usize = 100_000;
/// The most row errors one answer lists (the message says how many there were).
const MAX_LISTED_ERRORS: usize = 200;
/// Rows per `INSERT` statement (19 values each, well under both databases' limits).
const INSERT_CHUNK: usize = 200;
/// SKUs or barcodes per `IN (…)` lookup.
const LOOKUP_CHUNK: usize = 500;

/// The columns a row may carry: the fields of `PUT /api/products/{id}`, SKU included.
pub const IMPORT_COLUMNS: [&str; 17] = [
    "sku",
    "name",
    "barcode",
    "description",
    "category_id",
    "brand",
    "unit",
    "weight",
    "dimensions",
    "cost_price",
    "suggested_price",
    "min_price",
    "max_price",
    "is_active",
    "image_url",
    "images",
    "attributes",
];

/// What a CSV cell holds, by column.
fn csv_cell(column: &str, cell: &str) -> Result<Value, String> {
    if cell.trim().is_empty() {
        return Ok(Value::Null);
    }
    match column {
        "weight" | "cost_price" | "suggested_price" | "min_price" | "max_price" => cell
            .trim()
            .parse::<serde_json::Number>()
            .map(Value::Number)
            .map_err(|_| format!("must be a number, not {cell:?}")),
        "category_id" => cell
            .trim()
            .parse::<u64>()
            .map(Value::from)
            .map_err(|_| format!("must be a category id, not {cell:?}")),
        "is_active" => match cell.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "y" => Ok(Value::Bool(true)),
            "false" | "0" | "no" | "n" => Ok(Value::Bool(false)),
            _ => Err(format!("must be true or false, not {cell:?}")),
        },
        "images" | "attributes" => {
            serde_json::from_str(cell).map_err(|e| format!("must be JSON ({e})"))
        }
        _ => Ok(Value::String(cell.to_string())),
    }
}

/// One row as read, or what is wrong with it (field, message).
type ReadRow = Result<Map<String, Value>, Vec<(String, String)>>;

/// The body of an import: its rows, numbered from 1 in the order sent.
#[derive(Debug)]
pub struct ImportBody(pub Vec<ReadRow>);

impl<S: Send + Sync> FromRequest<S> for ImportBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let kind = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                ct.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("Could not read the request body: {e}")))?;
        let rows = match kind.as_str() {
            "application/json" => json_rows(&body)?,
            "text/csv" => csv_rows(&body)?,
            _ => {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "Send the products as application/json (an array) or text/csv (a header row, then one product per row)",
                ));
            }
        };
        if rows.is_empty() {
            return Err(ApiError::field("body", "holds no products"));
        }
        if rows.len() > MAX_IMPORT_ROWS {
            return Err(ApiError::field(
                "body",
                format!(
                    "holds {} products; at most {MAX_IMPORT_ROWS} per request: send the rest in another",
                    rows.len()
                ),
            ));
        }
        Ok(ImportBody(rows))
    }
}

fn json_rows(body: &[u8]) -> ApiResult<Vec<ReadRow>> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Malformed JSON: {e}")))?;
    let Value::Array(items) = v else {
        return Err(ApiError::field("body", "must be a JSON array of products"));
    };
    Ok(items
        .into_iter()
        .map(|item| match item {
            Value::Object(m) => {
                let unknown: Vec<(String, String)> = m
                    .keys()
                    .filter(|k| !IMPORT_COLUMNS.contains(&k.as_str()))
                    .map(|k| (k.clone(), unknown_column()))
                    .collect();
                if unknown.is_empty() {
                    Ok(m)
                } else {
                    Err(unknown)
                }
            }
            _ => Err(vec![("row".into(), "must be a JSON object".into())]),
        })
        .collect())
}

fn unknown_column() -> String {
    format!("is not a product column ({})", IMPORT_COLUMNS.join(", "))
}

fn csv_rows(body: &[u8]) -> ApiResult<Vec<ReadRow>> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body); // a spreadsheet's BOM
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(body);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| ApiError::field("header", format!("cannot be read: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut seen = HashSet::new();
    for h in &header {
        if !IMPORT_COLUMNS.contains(&h.as_str()) {
            return Err(ApiError::field(
                "header",
                format!("{h:?} {}", unknown_column()),
            ));
        }
        if !seen.insert(h.as_str()) {
            return Err(ApiError::field("header", format!("names {h:?} twice")));
        }
    }
    if !seen.contains("sku") {
        return Err(ApiError::field(
            "header",
            "must name the sku column: rows are matched by SKU",
        ));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                rows.push(Err(vec![("row".into(), format!("cannot be read: {e}"))]));
                continue;
            }
        };
        let mut m = Map::new();
        let mut errors = Vec::new();
        for (column, cell) in header.iter().zip(record.iter()) {
            match csv_cell(column, cell) {
                Ok(v) => {
                    m.insert(column.clone(), v);
                }
                Err(e) => errors.push((column.clone(), e)),
            }
        }
        rows.push(if errors.is_empty() {
            Ok(m)
        } else {
            Err(errors)
        });
    }
    Ok(rows)
}

impl DocInput for ImportBody {
    fn describe(op: &mut Operation, g: &mut SchemaGenerator) {
        let mut row = ProductChanges::json_schema(g).to_value();
        row["properties"]["sku"] = kasir_schema::api_schema::text::<100>(g).to_value();
        row["required"] = json!(["sku"]);
        row["description"] = json!(
            "A product, matched by SKU: a new SKU needs a name; for a known one, the columns given change."
        );
        row.as_object_mut().map(|o| o.remove("examples"));
        let example = json!([
            { "sku": "TEH-BTL-350", "name": "Teh Botol 350 ml", "barcode": "8991234567895",
              "category_id": 1, "cost_price": 3000, "suggested_price": 4500 },
            { "sku": "KOPI-250", "name": "Kopi Bubuk Toraja 250 g", "unit": "pack",
              "suggested_price": 52000 }
        ]);
        op.request_body = Some(json!({
            "required": true,
            "content": {
                "application/json": {
                    "schema": { "type": "array", "minItems": 1, "maxItems": MAX_IMPORT_ROWS, "items": row },
                    "example": example
                },
                "text/csv": {
                    "schema": { "type": "string", "description": "A header row naming columns of the JSON form (sku required), then one product per row; an empty cell clears an optional column." },
                    "example": "sku,name,barcode,suggested_price\nTEH-BTL-350,Teh Botol 350 ml,8991234567895,4500\n"
                }
            }
        }));
    }
}

/// The answer of an import that was written.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ImportResponse {
    pub success: bool,
    /// Rows in the request.
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    /// Rows that matched the product as HQ held it.
    pub unchanged: u64,
}

/// A row checked and ready to write.
struct Planned {
    existing: Option<u64>,
    fields: ProductFields,
    images: Option<String>,
    attributes: Option<String>,
}

/// Row errors, in row order: `"<row>.<field>"` → messages.
#[derive(Default)]
struct RowErrors {
    fields: BTreeMap<(usize, String), Vec<String>>,
}

impl RowErrors {
    fn add(&mut self, row: usize, field: &str, message: impl Into<String>) {
        self.fields
            .entry((row, field.to_string()))
            .or_default()
            .push(message.into());
    }
    fn add_api(&mut self, row: usize, e: ApiError) {
        match e.fields {
            Some(fields) => {
                for (f, msgs) in fields {
                    for m in msgs {
                        self.add(row, &f, m);
                    }
                }
            }
            None => self.add(row, "row", e.message),
        }
    }
    fn into_error(self) -> Option<ApiError> {
        if self.fields.is_empty() {
            return None;
        }
        let rows: HashSet<usize> = self.fields.keys().map(|(r, _)| *r).collect();
        let total = self.fields.len();
        let (first_row, first_field) = self.fields.keys().next().cloned().unwrap_or_default();
        let first = self.fields.values().next().and_then(|m| m.first()).cloned();
        let listed: BTreeMap<String, Vec<String>> = self
            .fields
            .into_iter()
            .take(MAX_LISTED_ERRORS)
            .map(|((r, f), m)| (format!("{r}.{f}"), m))
            .collect();
        let more = if total > MAX_LISTED_ERRORS {
            format!(" (the first {MAX_LISTED_ERRORS} are listed)")
        } else {
            String::new()
        };
        Some(ApiError {
            fields: Some(listed),
            ..ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "Nothing was imported: {total} error(s) in {} row(s){more}; the first: row {first_row}, {first_field}: {}",
                    rows.len(),
                    first.unwrap_or_default()
                ),
            )
        })
    }
}

/// `POST /api/products/import` (master data).
pub async fn import_products(
    State(state): State<AppState>,
    principal: Principal,
    ImportBody(rows): ImportBody,
) -> ApiResult<axum::Json<ImportResponse>> {
    let n_rows = rows.len();
    let mut errors = RowErrors::default();
    // 1. Each row on its own: columns, types, SKU.
    let mut parsed: Vec<Option<(String, ProductChanges)>> = Vec::with_capacity(n_rows);
    for (i, row) in rows.into_iter().enumerate() {
        let n = i + 1;
        let changes = row
            .map_err(|es| es.into_iter().for_each(|(f, m)| errors.add(n, &f, m)))
            .and_then(|m| {
                parse_value::<ProductChanges>(Value::Object(m)).map_err(|e| errors.add_api(n, e))
            });
        parsed.push(changes.ok().and_then(|c| {
            match c
                .sku
                .as_deref()
                .map(|s| crate::extract::text("sku", s, 100))
            {
                Some(Ok(sku)) => Some((sku, c)),
                Some(Err(e)) => {
                    errors.add_api(n, e);
                    None
                }
                None => {
                    errors.add(n, "sku", "is required: rows are matched by SKU");
                    None
                }
            }
        }));
    }
    // 2. SKUs once per file.
    let mut first_row_of: HashMap<String, usize> = HashMap::new();
    for (i, p) in parsed.iter_mut().enumerate() {
        if let Some((sku, _)) = p {
            if let Some(first) = first_row_of.get(sku.as_str()) {
                errors.add(i + 1, "sku", format!("{sku:?} is also in row {first}"));
                *p = None;
            } else {
                first_row_of.insert(sku.clone(), i + 1);
            }
        }
    }
    // 3. Against what HQ holds.
    let skus: Vec<String> = first_row_of.keys().cloned().collect();
    let existing = products_by_sku(&state.db, &skus).await?;
    let categories = category_ids(&state.db).await?;
    let mut planned: Vec<(usize, Planned)> = Vec::with_capacity(n_rows);
    let mut unchanged = 0u64;
    for (i, p) in parsed.into_iter().enumerate() {
        let n = i + 1;
        let Some((sku, changes)) = p else { continue };
        let current = existing.get(&sku);
        let base = match current {
            Some(r) => ProductFields::from_record(r),
            None => match changes.name.clone() {
                Some(name) => ProductFields::new(sku.clone(), name),
                None => {
                    errors.add(n, "name", "is required for a new product");
                    continue;
                }
            },
        };
        let (fields, images, attributes) = match base.apply(changes).check() {
            Ok(checked) => checked,
            Err(e) => {
                errors.add_api(n, e);
                continue;
            }
        };
        if let Some(c) = fields.category_id
            && !categories.contains(&c)
        {
            errors.add(n, "category_id", format!("no category {c}"));
            continue;
        }
        if let Some(r) = current
            && ProductFields::from_record(r)
                .check()
                .ok()
                .map(|(f, _, _)| f)
                == Some(fields.clone())
        {
            unchanged += 1;
            continue;
        }
        planned.push((
            n,
            Planned {
                existing: current.map(|r| r.id),
                fields,
                images,
                attributes,
            },
        ));
    }
    // 4. Barcodes once per catalog: the file's rows (changed or not) and the products the file
    //    does not name.
    let mut barcode_row: HashMap<String, usize> = HashMap::new();
    let mut final_barcodes: Vec<(usize, String)> = planned
        .iter()
        .filter_map(|(n, p)| p.fields.barcode.clone().map(|b| (*n, b)))
        .collect();
    let changed: HashSet<&str> = planned.iter().map(|(_, p)| p.fields.sku.as_str()).collect();
    for (sku, r) in &existing {
        if !changed.contains(sku.as_str())
            && let Some(b) = &r.barcode
        {
            final_barcodes.push((first_row_of[sku.as_str()], b.clone()));
        }
    }
    final_barcodes.sort();
    for (n, b) in &final_barcodes {
        if let Some(first) = barcode_row.get(b) {
            errors.add(*n, "barcode", format!("{b} is also in row {first}"));
        } else {
            barcode_row.insert(b.clone(), *n);
        }
    }
    let barcodes: Vec<String> = barcode_row.keys().cloned().collect();
    for (b, owner) in barcode_owners(&state.db, &barcodes).await? {
        if !first_row_of.contains_key(&owner) {
            errors.add(
                barcode_row[&b],
                "barcode",
                format!("{b} belongs to product {owner}, which this import does not change"),
            );
        }
    }
    if let Some(e) = errors.into_error() {
        return Err(e);
    }
    // 5. One transaction.
    let created = planned.iter().filter(|(_, p)| p.existing.is_none()).count() as u64;
    let updated = planned.len() as u64 - created;
    write(
        &state,
        &principal,
        &planned,
        (n_rows, created, updated, unchanged),
    )
    .await?;
    if !planned.is_empty() {
        state.lookups.catalog_changed();
    }
    tracing::info!(target: "kasir::masterdata", rows = n_rows, created, updated, unchanged, "products imported");
    Ok(axum::Json(ImportResponse {
        success: true,
        rows: n_rows as u64,
        created,
        updated,
        unchanged,
    }))
}

async fn write(
    state: &AppState,
    principal: &Principal,
    planned: &[(usize, Planned)],
    (rows, created, updated, unchanged): (usize, u64, u64, u64),
) -> ApiResult<()> {
    let now = Utc::now();
    let user = principal.user_id().map(to_i64);
    let conflict = || {
        ApiError::conflict_on(
            "sku",
            "a SKU or barcode of the file belongs to another product (one that differs only in case?); nothing was imported",
        )
    };
    on_db!(&state.db, |pool, B| {
        let mut tx = B::begin(pool).await?;
        // The download version of every row written (the catalog's counter stays locked until
        // the commit; imports are rare and short).
        let version = if planned.is_empty() {
            0
        } else {
            crate::lookups::next_version!(B, tx, crate::lookups::CATALOG, state.lookups)
        };
        // Barcodes that move between the file's products are let go first, so the order of
        // the updates cannot trip the unique index.
        let moving: Vec<i64> = planned
            .iter()
            .filter_map(|(_, p)| p.existing.map(to_i64))
            .collect();
        for ids in moving.chunks(LOOKUP_CHUNK) {
            let sql = format!(
                "UPDATE products SET barcode = NULL WHERE id IN ({})",
                placeholders(ids.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in ids {
                q = q.bind(*id);
            }
            q.execute(&mut *tx).await?;
        }
        for (_, p) in planned.iter().filter(|(_, p)| p.existing.is_some()) {
            let (f, images, attributes) = (&p.fields, &p.images, &p.attributes);
            let q = sqlx::query(UPDATE_PRODUCT);
            let r = bind_product_fields!(B, q, f, images, attributes)
                .bind(B::time(now))
                .bind(version)
                .bind(p.existing.map(to_i64))
                .execute(&mut *tx)
                .await;
            match r {
                Err(sqlx::Error::Database(d)) if d.is_unique_violation() => return Err(conflict()),
                r => {
                    r?;
                }
            }
        }
        let new: Vec<&Planned> = planned
            .iter()
            .filter(|(_, p)| p.existing.is_none())
            .map(|(_, p)| p)
            .collect();
        for chunk in new.chunks(INSERT_CHUNK) {
            let one = format!("({})", placeholders(20));
            let sql = format!(
                "INSERT INTO products (barcode, sku, name, description, category_id, brand, unit, weight, dimensions,
                    cost_price, suggested_price, min_price, max_price, is_active, image_url, images, attributes,
                    created_at, updated_at, sync_version) VALUES {}",
                vec![one.as_str(); chunk.len()].join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for p in chunk {
                let (f, images, attributes) = (&p.fields, &p.images, &p.attributes);
                q = bind_product_fields!(B, q, f, images, attributes)
                    .bind(B::time(now))
                    .bind(B::time(now))
                    .bind(version);
            }
            match q.execute(&mut *tx).await {
                Err(sqlx::Error::Database(d)) if d.is_unique_violation() => return Err(conflict()),
                r => {
                    r?;
                }
            }
        }
        crate::audit::write(
            &mut *tx,
            user,
            None,
            "product.import",
            "products",
            None,
            json!({ "rows": rows, "created": created, "updated": updated, "unchanged": unchanged }),
        )
        .await?;
        tx.commit().await?;
    });
    Ok(())
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// The products with these SKUs, by SKU.
async fn products_by_sku(db: &Db, skus: &[String]) -> ApiResult<HashMap<String, ProductRecord>> {
    let mut out = HashMap::with_capacity(skus.len());
    for chunk in skus.chunks(LOOKUP_CHUNK) {
        on_db!(db, |pool, B| {
            let sql = format!(
                "SELECT {PRODUCT_COLUMNS} FROM products WHERE sku IN ({})",
                placeholders(chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for s in chunk {
                q = q.bind(s);
            }
            for r in q.fetch_all(pool).await? {
                let rec: ProductRecord = product_from_row!(B, r);
                out.insert(rec.sku.clone(), rec);
            }
        });
    }
    Ok(out)
}

/// (barcode, SKU) of the products holding these barcodes.
async fn barcode_owners(db: &Db, barcodes: &[String]) -> ApiResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    for chunk in barcodes.chunks(LOOKUP_CHUNK) {
        on_db!(db, |pool, B| {
            let sql = format!(
                "SELECT barcode, sku FROM products WHERE barcode IN ({})",
                placeholders(chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for b in chunk {
                q = q.bind(b);
            }
            for r in q.fetch_all(pool).await? {
                out.push((r.try_get("barcode")?, r.try_get("sku")?));
            }
        });
    }
    Ok(out)
}

async fn category_ids(db: &Db) -> ApiResult<HashSet<u64>> {
    Ok(on_db!(db, |pool, B| {
        sqlx::query("SELECT id FROM categories")
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| B::int(r, "id").map(to_u64))
            .collect::<Result<HashSet<u64>, sqlx::Error>>()?
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The columns an import takes are the fields of a product change, no more, no less.
    #[test]
    fn import_columns_are_the_fields_of_a_product_change() {
        let schema = schemars::schema_for!(ProductChanges).to_value();
        let mut fields: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort();
        let mut columns = IMPORT_COLUMNS.to_vec();
        columns.sort();
        assert_eq!(fields, columns);
    }

    #[test]
    fn csv_cells_are_read_by_column() {
        assert_eq!(
            csv_cell("suggested_price", " 4500.50 ")
                .unwrap()
                .to_string(),
            "4500.50"
        );
        assert!(csv_cell("suggested_price", "4.500,50").is_err());
        assert_eq!(csv_cell("category_id", "7").unwrap(), json!(7));
        assert_eq!(csv_cell("is_active", "No").unwrap(), json!(false));
        assert!(csv_cell("is_active", "maybe").is_err());
        assert_eq!(csv_cell("barcode", "  ").unwrap(), Value::Null);
        assert_eq!(csv_cell("name", "Teh, manis").unwrap(), json!("Teh, manis"));
        assert_eq!(
            csv_cell("attributes", r#"{"size":"L"}"#).unwrap(),
            json!({ "size": "L" })
        );
        assert!(csv_cell("images", "[not json").is_err());
    }

    #[test]
    fn a_csv_header_is_checked_before_any_row() {
        let e = csv_rows(b"sku,colour\nA,red\n").unwrap_err();
        assert!(e.fields.unwrap().contains_key("header"));
        let e = csv_rows(b"name,name\nA,B\n").unwrap_err();
        assert!(e.message.contains("twice"), "{}", e.message);
        let e = csv_rows(b"name\nTeh\n").unwrap_err();
        assert!(e.message.contains("sku"), "{}", e.message);
        let rows =
            csv_rows(b"\xEF\xBB\xBFsku,name,suggested_price\nA,\"Teh, manis\",4500\nB,Kopi,x\n")
                .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].as_ref().unwrap()["name"], json!("Teh, manis"));
        assert_eq!(rows[1].as_ref().unwrap_err()[0].0, "suggested_price");
    }
}
