//! The catalog: products in sharded documents (`catalog/NN`, one field per key) projected into
//! the `products` table for microsecond lookups by barcode and SKU and trigram name search.

use std::collections::{BTreeMap, BTreeSet};

use automerge::AutoCommit;
use kasir_schema::Decimal;
use kasir_schema::domain::{Category, Product, SaleUnit};
use kasir_schema::roles::Permission;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::auth::Approval;
use crate::db;
use crate::docs::{self, DocId, DocStore, SEP, Tx};
use crate::error::{NodeError, Result};
use crate::till::Till;

/// A product as the till shows and sells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductView {
    pub sku: String,
    pub name: String,
    pub barcode: Option<String>,
    pub unit: SaleUnit,
    pub price: Decimal,
    pub stock: Decimal,
    pub min_stock: Decimal,
    pub is_active: bool,
    pub category_id: Option<i64>,
}

impl ProductView {
    /// Sold below zero: allowed, but flagged for the manager.
    pub fn is_oversold(&self) -> bool {
        self.stock < Decimal::ZERO
    }
}

const VIEW_COLUMNS: &str =
    "sku, name, barcode, unit, selling_price, stock_quantity, min_stock, is_active, category_id";

fn view_from_row(r: &Row<'_>) -> rusqlite::Result<ProductView> {
    let unit: String = r.get(3)?;
    Ok(ProductView {
        sku: r.get(0)?,
        name: r.get(1)?,
        barcode: r.get(2)?,
        unit: unit.parse().unwrap_or(SaleUnit::Piece),
        price: db::money_out(r.get(4)?),
        stock: db::qty_out(r.get(5)?),
        min_stock: db::qty_out(r.get(6)?),
        is_active: r.get(7)?,
        category_id: r.get(8)?,
    })
}

/// SKUs: 1–100 printable characters, no separators the documents use.
pub fn validate_sku(sku: &str) -> Result<()> {
    let ok = (1..=100).contains(&sku.chars().count())
        && !sku.chars().any(|c| c.is_control() || c == SEP)
        && sku.trim() == sku;
    if ok {
        Ok(())
    } else {
        Err(NodeError::Invalid(format!(
            "SKU {sku:?}: 1–100 printable characters without leading or trailing spaces"
        )))
    }
}

pub(crate) fn validate_product(p: &Product) -> Result<()> {
    validate_sku(&p.sku)?;
    if p.name.trim().is_empty() || p.name.chars().count() > 255 {
        return Err(NodeError::Invalid(format!(
            "{}: name is required (≤ 255 characters)",
            p.sku
        )));
    }
    if p.selling_price < Decimal::ZERO || p.cost_price < Decimal::ZERO {
        return Err(NodeError::Invalid(format!(
            "{}: prices must not be negative",
            p.sku
        )));
    }
    kasir_schema::money::check_amount(p.selling_price)?;
    if let Some(b) = &p.barcode
        && (b.is_empty() || b.len() > 64 || b.contains(SEP))
    {
        return Err(NodeError::Invalid(format!("{}: barcode {b:?}", p.sku)));
    }
    Ok(())
}

pub(crate) fn product_fields(p: &Product) -> Vec<(&'static str, Option<String>)> {
    vec![
        ("name", Some(p.name.clone())),
        ("barcode", p.barcode.clone()),
        ("description", p.description.clone()),
        ("category", p.category_id.map(|c| c.to_string())),
        ("unit", Some(p.unit.as_str().to_string())),
        ("price", Some(p.selling_price.normalize().to_string())),
        ("cost", Some(p.cost_price.normalize().to_string())),
        ("min_stock", Some(p.min_stock.normalize().to_string())),
        ("max_stock", Some(p.max_stock.normalize().to_string())),
        (
            "active",
            Some(if p.is_active { "1" } else { "0" }.to_string()),
        ),
        ("server_id", p.server_id.map(|s| s.to_string())),
    ]
}

/// A product from its document fields (see ARCHITECTURE.md, "The document format"), or why
/// it cannot be read.
fn product_from_fields(sku: &str, f: &docs::Fields) -> std::result::Result<Product, String> {
    let r = docs::FieldReader(f);
    let unit = match r.opt_text("unit")? {
        None => SaleUnit::Piece,
        Some(u) => u.parse().map_err(|e| format!("unit: {e}"))?,
    };
    let name = r.text("name")?;
    if name.trim().is_empty() {
        return Err("name: empty".into());
    }
    let id = |v: Option<i64>, what: &str| {
        v.map(|n| u64::try_from(n).map_err(|_| format!("{what}: {n} is negative")))
            .transpose()
    };
    let selling_price = r.money("price")?;
    if selling_price < Decimal::ZERO {
        return Err("price: negative".into());
    }
    Ok(Product {
        sku: sku.to_string(),
        server_id: id(r.opt_integer("server_id")?, "server_id")?,
        barcode: r.opt_text("barcode")?,
        name,
        description: r.opt_text("description")?,
        category_id: id(r.opt_integer("category")?, "category")?,
        unit,
        cost_price: r.opt_money("cost")?,
        selling_price,
        min_stock: r.opt_quantity("min_stock")?,
        max_stock: r.opt_quantity("max_stock")?,
        is_active: r.flag("active", true)?,
    })
}

/// Writes products into the `products` projection (insert or update by SKU) and their names
/// into the trigram index. A new row's stock is the sum of the movements already known for
/// the SKU (they can arrive before the product); an existing row's stock is left alone, since
/// every movement keeps it in step.
///
/// The name index is written after all rows, one statement per changed name: an FTS5 table
/// written between statements that open a savepoint (every upsert here does) flushes a new
/// segment each time, which made receiving 100k products three times slower.
pub(crate) fn project_products<'a>(
    conn: &Connection,
    products: impl IntoIterator<Item = &'a Product>,
    now: &str,
) -> Result<usize> {
    // rowid -> (the name the index holds for it, if any; the name it must hold)
    let mut names: BTreeMap<i64, (Option<String>, String)> = BTreeMap::new();
    // Movements that arrived before their product wait in early_stock (see migration 0006).
    let early = conn
        .prepare_cached("SELECT 1 FROM early_stock LIMIT 1")?
        .query_row([], |_| Ok(()))
        .optional()?
        .is_some();
    let mut n = 0;
    for p in products {
        let before: Option<(i64, String)> = conn
            .prepare_cached("SELECT id, name FROM products WHERE sku = ?1")?
            .query_row([&p.sku], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let id: i64 = conn
            .prepare_cached(
                "INSERT INTO products (server_id, barcode, sku, name, description, category_id, unit,
                    cost_price, selling_price, min_stock, max_stock, is_active, sync_status,
                    stock_quantity, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'synced',
                    (SELECT COALESCE(SUM(quantity), 0) FROM early_stock WHERE sku = ?3), ?13, ?13)
                 ON CONFLICT(sku) DO UPDATE SET server_id = excluded.server_id, barcode = excluded.barcode,
                    name = excluded.name, description = excluded.description, category_id = excluded.category_id,
                    unit = excluded.unit, cost_price = excluded.cost_price, selling_price = excluded.selling_price,
                    min_stock = excluded.min_stock, max_stock = excluded.max_stock, is_active = excluded.is_active,
                    updated_at = excluded.updated_at
                 RETURNING id",
            )?
            .query_row(
                params![
                    p.server_id.map(|s| s as i64),
                    p.barcode,
                    p.sku,
                    p.name,
                    p.description,
                    p.category_id.map(|c| c as i64),
                    p.unit.as_str(),
                    db::money(p.cost_price)?,
                    db::money(p.selling_price)?,
                    db::qty(p.min_stock)?,
                    db::qty(p.max_stock)?,
                    p.is_active,
                    now,
                ],
                |r| r.get(0),
            )
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ConstraintViolation)
                    if e.to_string().contains("products.barcode") =>
                {
                    NodeError::Invalid(format!(
                        "{}: barcode {} already belongs to another product",
                        p.sku,
                        p.barcode.as_deref().unwrap_or("")
                    ))
                }
                _ => e.into(),
            })?;
        if early && before.is_none() {
            conn.prepare_cached("DELETE FROM early_stock WHERE sku = ?1")?
                .execute([&p.sku])?;
        }
        let indexed = before.map(|(_, name)| name);
        names
            .entry(id)
            .or_insert_with(|| (indexed, String::new()))
            .1
            .clone_from(&p.name);
        n += 1;
    }
    for (id, (indexed, name)) in names {
        if indexed.as_deref() == Some(name.as_str()) {
            continue;
        }
        if let Some(old) = indexed {
            conn.prepare_cached(
                "INSERT INTO products_fts(products_fts, rowid, name) VALUES ('delete', ?1, ?2)",
            )?
            .execute(params![id, old])?;
        }
        conn.prepare_cached("INSERT INTO products_fts(rowid, name) VALUES (?1, ?2)")?
            .execute(params![id, name])?;
    }
    Ok(n)
}

/// Projects the records under `keys` (what a merge wrote), or all of them when `None`.
pub(crate) fn reproject_shard(
    conn: &Connection,
    doc: &AutoCommit,
    keys: Option<&BTreeSet<String>>,
    id: DocId,
    now: &str,
) -> Result<usize> {
    let read = docs::records_with_fields(doc, keys)
        .into_iter()
        .map(|(sku, mut fields)| {
            crate::hq::hq_wins_ties(doc, &sku, &mut fields);
            let p = product_from_fields(&sku, &fields);
            (sku, p)
        })
        .collect();
    let products = crate::unreadable::sort(conn, id, read, now)?;
    project_products(conn, &products, now)
}

pub(crate) fn write_products(
    conn: &Tx<'_>,
    docs: &mut DocStore,
    products: &[Product],
    now: &str,
) -> Result<()> {
    let mut by_shard: BTreeMap<DocId, Vec<&Product>> = BTreeMap::new();
    for p in products {
        validate_product(p)?;
        by_shard
            .entry(DocId::catalog_for(&p.sku))
            .or_default()
            .push(p);
    }
    for (id, group) in by_shard {
        docs.edit(conn, id, |doc| {
            for p in &group {
                docs::put_fields(doc, &p.sku, &product_fields(p))?;
            }
            Ok(())
        })?;
        project_products(conn, group, now)?;
    }
    Ok(())
}

fn category_fields(c: &Category) -> Vec<(&'static str, Option<String>)> {
    vec![
        ("name", Some(c.name.clone())),
        ("description", c.description.clone()),
        ("parent", c.parent_id.map(|p| p.to_string())),
        ("sort", Some(c.sort_order.to_string())),
        (
            "active",
            Some(if c.is_active { "1" } else { "0" }.to_string()),
        ),
    ]
}

fn category_from_fields(id: &str, f: &docs::Fields) -> std::result::Result<Category, String> {
    let r = docs::FieldReader(f);
    let parent = r
        .opt_integer("parent")?
        .map(|p| u64::try_from(p).map_err(|_| format!("parent: {p} is negative")))
        .transpose()?;
    Ok(Category {
        id: id
            .parse()
            .map_err(|_| format!("{id:?} is not a category number"))?,
        name: r.text("name")?,
        description: r.opt_text("description")?,
        parent_id: parent,
        sort_order: r
            .opt_integer("sort")?
            .map(|s| i32::try_from(s).map_err(|_| format!("sort: {s} is out of range")))
            .transpose()?
            .unwrap_or(0),
        is_active: r.flag("active", true)?,
    })
}

/// Writes one category into the `categories` projection, keyed by HQ's id (`server_id`). The
/// parent link is resolved when the parent is known; categories arriving before their parent
/// are linked when the parent arrives.
pub(crate) fn project_category(conn: &Connection, c: &Category, now: &str) -> Result<()> {
    let id =
        i64::try_from(c.id).map_err(|_| NodeError::Invalid(format!("category id {}", c.id)))?;
    conn.prepare_cached(
        "INSERT INTO categories (server_id, name, description, is_active, sync_status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'synced', ?5, ?5)
         ON CONFLICT(server_id) DO UPDATE SET name = excluded.name, description = excluded.description,
            is_active = excluded.is_active, updated_at = excluded.updated_at",
    )?
    .execute(params![id, c.name, c.description, c.is_active, now])?;
    let parent = c.parent_id.map(|p| p as i64);
    conn.prepare_cached(
        "UPDATE categories SET parent_id = (SELECT id FROM categories WHERE server_id = ?2) WHERE server_id = ?1",
    )?
    .execute(params![id, parent])?;
    Ok(())
}

pub(crate) fn reproject_categories(
    conn: &Connection,
    doc: &AutoCommit,
    now: &str,
) -> Result<usize> {
    let read = docs::record_keys(doc)
        .into_iter()
        .map(|k| {
            let c = category_from_fields(&k, &docs::get_fields(doc, &k));
            (k, c)
        })
        .collect();
    let mut all: Vec<Category> = crate::unreadable::sort(conn, DocId::Categories, read, now)?;
    // Parents first, so every parent link resolves in one pass.
    all.sort_by_key(|c| (c.parent_id.is_some(), c.id));
    for c in &all {
        project_category(conn, c, now)?;
    }
    for c in &all {
        project_category(conn, c, now)?;
    }
    Ok(all.len())
}

/// A category as the till lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryView {
    pub id: u64,
    pub name: String,
    pub parent_id: Option<u64>,
    pub products: i64,
}

impl Till {
    /// Creates or updates categories (HQ download through the leader, store setup).
    pub fn import_categories(&mut self, categories: &[Category]) -> Result<usize> {
        for c in categories {
            if c.name.trim().is_empty() || c.name.chars().count() > 255 {
                return Err(NodeError::Invalid(format!(
                    "category {}: name is required",
                    c.id
                )));
            }
            if c.parent_id == Some(c.id) {
                return Err(NodeError::Invalid(format!(
                    "category {} cannot be its own parent",
                    c.id
                )));
            }
        }
        let now = db::ts(self.now());
        self.write(|tx, docs| {
            docs.edit(tx, DocId::Categories, |doc| {
                for c in categories {
                    docs::put_fields(doc, &c.id.to_string(), &category_fields(c))?;
                }
                Ok(())
            })?;
            reproject_categories(tx, docs.get(tx, DocId::Categories)?, &now)?;
            Ok(categories.len())
        })
    }

    /// Active categories with how many active products each has, by name.
    pub fn categories(&self) -> Result<Vec<CategoryView>> {
        let mut stmt = self.conn.prepare(
            "SELECT c.server_id, c.name, p.server_id,
                    (SELECT count(*) FROM products x WHERE x.category_id = c.server_id AND x.is_active = 1)
             FROM categories c LEFT JOIN categories p ON p.id = c.parent_id
             WHERE c.is_active = 1 AND c.server_id IS NOT NULL ORDER BY c.name",
        )?;
        Ok(stmt
            .query_map([], |r| {
                Ok(CategoryView {
                    id: r.get::<_, i64>(0)?.unsigned_abs(),
                    name: r.get(1)?,
                    parent_id: r.get::<_, Option<i64>>(2)?.map(i64::unsigned_abs),
                    products: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    /// Creates or updates products (HQ download through the leader, store setup, imports).
    /// All of them are stored, or none.
    pub fn import_products(&mut self, products: &[Product]) -> Result<usize> {
        let now = db::ts(self.now());
        self.write(|tx, docs| {
            write_products(tx, docs, products, &now)?;
            Ok(products.len())
        })
    }

    pub fn product(&self, sku: &str) -> Result<Option<ProductView>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {VIEW_COLUMNS} FROM products WHERE sku = ?1"
            ))?
            .query_row([sku], view_from_row)
            .optional()?)
    }

    /// Active products in SKU order, at most `limit` (a quick pick list, the simulator).
    pub fn active_products(&self, limit: usize) -> Result<Vec<ProductView>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {VIEW_COLUMNS} FROM products WHERE is_active = 1 ORDER BY sku LIMIT ?1"
        ))?;
        Ok(stmt
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], view_from_row)?
            .collect::<rusqlite::Result<_>>()?)
    }

    /// Looks a product up by its barcode key (see `kasir_schema::barcode::Gtin::key`).
    pub fn product_by_barcode(&self, key: &str) -> Result<Option<ProductView>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {VIEW_COLUMNS} FROM products WHERE barcode = ?1"
            ))?
            .query_row([key], view_from_row)
            .optional()?)
    }

    /// Name search, prefix and substring, case-insensitive; SKU prefix too. Active products
    /// only, at most `limit` (≤ 200).
    pub fn search_products(&self, query: &str, limit: usize) -> Result<Vec<ProductView>> {
        let q = query.trim();
        let limit = limit.clamp(1, 200) as i64;
        if q.is_empty() {
            return Ok(Vec::new());
        }
        let like = format!("{}%", q.replace(['%', '_'], ""));
        let mut out: Vec<ProductView> = Vec::new();
        if q.chars().count() >= 3 {
            // Trigram index: substring anywhere in the name, prefixes first.
            let phrase = format!("\"{}\"", q.replace('"', "\"\""));
            let mut stmt = self.conn.prepare_cached(&format!(
                "SELECT {VIEW_COLUMNS} FROM products WHERE id IN
                   (SELECT rowid FROM products_fts WHERE products_fts MATCH ?1)
                 AND is_active = 1
                 ORDER BY (name LIKE ?2) DESC, name LIMIT ?3"
            ))?;
            out.extend(
                stmt.query_map(params![phrase, like, limit], view_from_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
            );
        } else {
            let mut stmt = self.conn.prepare_cached(&format!(
                "SELECT {VIEW_COLUMNS} FROM products WHERE name LIKE ?1 AND is_active = 1
                 ORDER BY name LIMIT ?2"
            ))?;
            out.extend(
                stmt.query_map(params![like, limit], view_from_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
            );
        }
        if (out.len() as i64) < limit {
            let mut stmt = self.conn.prepare_cached(&format!(
                "SELECT {VIEW_COLUMNS} FROM products WHERE sku >= ?1 AND sku < ?1 || char(1114111)
                 AND is_active = 1 ORDER BY sku LIMIT ?2"
            ))?;
            for p in stmt.query_map(params![q, limit], view_from_row)? {
                let p = p?;
                if !out.iter().any(|o| o.sku == p.sku) {
                    out.push(p);
                }
            }
        }
        out.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(out)
    }

    /// Changes this store's price of a product (managers, or with a manager's approval).
    pub fn set_store_price(
        &mut self,
        sku: &str,
        price: Decimal,
        approval: Option<&Approval>,
    ) -> Result<()> {
        let approver = self.authorize(Permission::ManageStorePrices, approval)?;
        if price < Decimal::ZERO {
            return Err(NodeError::Invalid("price must not be negative".into()));
        }
        kasir_schema::money::check_amount(price)?;
        let actor = self.session()?.user_id;
        let now = self.now();
        let old = self.product(sku)?.ok_or_else(|| NodeError::NotFound {
            what: format!("product {sku}"),
            hint: Some("search by name".into()),
        })?;
        self.write(|tx, docs| {
            let id = DocId::catalog_for(sku);
            let product = docs.edit(tx, id, |doc| {
                docs::put_fields(doc, sku, &[("price", Some(price.normalize().to_string()))])?;
                Ok(product_from_fields(sku, &docs::get_fields(doc, sku)))
            })?;
            let product =
                product.map_err(|why| NodeError::Corrupt(format!("catalog entry {sku}: {why}")))?;
            project_products(tx, [&product], &db::ts(now))?;
            Till::log(
                tx,
                "info",
                "store price changed",
                serde_json::json!({ "sku": sku, "old": old.price, "new": price }),
                Some(actor),
                approver,
                now,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_are_validated() {
        for ok in ["IDM-GRG-85", "P000001", "Kopi 200g", "é"] {
            assert!(validate_sku(ok).is_ok(), "{ok}");
        }
        for bad in ["", " IDM", "IDM ", "a\u{1f}b", "a\nb", &"x".repeat(101)] {
            assert!(validate_sku(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn products_round_trip_through_document_fields() {
        let p = Product {
            sku: "DAG-SAP-KG".into(),
            server_id: Some(7),
            barcode: Some("2012345".into()),
            name: "Daging Sapi".into(),
            description: None,
            category_id: Some(5),
            unit: SaleUnit::Kilogram,
            cost_price: Decimal::new(11_800_050, 2),
            selling_price: Decimal::from(135_000),
            min_stock: Decimal::new(2_500, 3),
            max_stock: Decimal::from(40),
            is_active: false,
        };
        let fields: docs::Fields = product_fields(&p)
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), docs::Field::Text(v))))
            .collect();
        assert_eq!(product_from_fields(&p.sku, &fields), Ok(p.clone()));
        // What another writer may use: Text for strings, integers for amounts, booleans.
        let mut other = fields.clone();
        other.insert("price".into(), docs::Field::Int(135_000));
        other.insert("category".into(), docs::Field::Uint(5));
        other.insert("active".into(), docs::Field::Bool(false));
        assert_eq!(product_from_fields(&p.sku, &other), Ok(p));
        // What cannot be read says why.
        let why = |f: &docs::Fields| product_from_fields("X", f).unwrap_err();
        assert_eq!(why(&BTreeMap::new()), "name: missing");
        let mut bad = fields.clone();
        bad.insert(
            "price".into(),
            docs::Field::Other("a floating-point number"),
        );
        assert_eq!(
            why(&bad),
            "price: expected a number as text or an integer, found a floating-point number"
        );
        bad.insert("price".into(), docs::Field::Text("12.345".into()));
        assert!(why(&bad).starts_with("price:"), "{}", why(&bad));
        let mut bad = fields;
        bad.insert("unit".into(), docs::Field::Text("litre".into()));
        assert_eq!(why(&bad), "unit: unknown unit \"litre\"");
    }
}
