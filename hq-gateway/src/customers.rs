//! Customers at HQ: list and search, read, create, change, with every column of the seed's
//! `customers` (§2.2) and their loyalty balance, visits and purchases consolidated from every
//! store's sales. Customers are chain-wide (a member collects points in any store), so every
//! credential of the chain may read them, as every store downloads them; writing is for
//! managers, and a store's manager writes the customers whose preferred store is theirs. What
//! HQ writes reaches the stores through `GET /api/sync/download` (it bumps `updated_at`), and a
//! store's later edit of the same customer wins by `updated_at` as before.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use kasir_schema::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::AppState;
use crate::auth::Principal;
use crate::db::{Db, to_i64, to_u64};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Query, text};
use crate::fields::{nullable, opt_text};
use crate::on_db;

/// `POST /api/customers`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = crate::examples::new_customer())]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    /// *(kasir)* The id lanes key customers by; generated when absent.
    #[serde(default)]
    pub customer_uuid: Option<uuid::Uuid>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_text::<100>")]
    pub customer_code: Option<String>,
    #[schemars(schema_with = "kasir_schema::api_schema::text::<255>")]
    pub name: String,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_email")]
    pub email: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_phone")]
    pub phone: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_text::<2000>")]
    pub address: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_text::<100>")]
    pub city: Option<String>,
    #[serde(default)]
    pub date_of_birth: Option<NaiveDate>,
    /// `male`, `female` or `other`.
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_gender")]
    pub gender: Option<String>,
    #[serde(default)]
    pub preferred_store_id: Option<u64>,
    #[serde(default = "yes")]
    pub is_active: bool,
}

fn yes() -> bool {
    true
}

/// `PUT /api/customers/{id}`: the fields given change; `null` clears an optional one.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[schemars(example = crate::examples::customer_changes())]
#[serde(deny_unknown_fields)]
pub struct CustomerChanges {
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_text::<100>")]
    pub customer_code: Option<Option<String>>,
    #[serde(default)]
    #[schemars(schema_with = "kasir_schema::api_schema::or_null_text::<255>")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_email")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_phone")]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_text::<2000>")]
    pub address: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_text::<100>")]
    pub city: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub date_of_birth: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(schema_with = "kasir_schema::api_schema::opt_gender")]
    pub gender: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub preferred_store_id: Option<Option<u64>>,
    #[serde(default)]
    pub is_active: Option<bool>,
}

/// A customer as every read returns it. `loyalty_points`, `total_visits`,
/// `total_purchases`, `first_visit` and `last_visit` are consolidated from every store: the
/// sum of the customer's loyalty entries, and their sales' count, sum and dates.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CustomerRecord {
    pub id: u64,
    pub customer_uuid: String,
    pub customer_code: Option<String>,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub city: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub gender: Option<String>,
    pub loyalty_points: i64,
    #[schemars(schema_with = "kasir_schema::api_schema::number")]
    pub total_purchases: Decimal,
    pub total_visits: i64,
    pub first_visit: Option<DateTime<Utc>>,
    pub last_visit: Option<DateTime<Utc>>,
    /// *(kasir)* Visits per store: `[{store_id, visits}]`.
    pub visits_by_store: Vec<StoreVisits>,
    pub preferred_store_id: Option<u64>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct StoreVisits {
    pub store_id: u64,
    pub visits: i64,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CustomerList {
    pub data: Vec<CustomerRecord>,
    pub meta: kasir_schema::wire::PageMeta,
}

/// `GET /api/customers?search=&page=&per_page=`: `search` matches name, phone, e-mail or code.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerQuery {
    #[serde(default)]
    #[schemars(example = &"Siti")]
    pub search: Option<String>,
    #[serde(default)]
    pub page: Option<u32>,
    #[serde(default)]
    pub per_page: Option<u32>,
}

/// What a customer's writable columns hold, checked.
#[derive(Debug, Clone)]
struct CustomerFields {
    customer_code: Option<String>,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    address: Option<String>,
    city: Option<String>,
    date_of_birth: Option<NaiveDate>,
    gender: Option<String>,
    preferred_store_id: Option<u64>,
    is_active: bool,
}

impl CustomerFields {
    fn from_record(r: &CustomerRecord) -> CustomerFields {
        CustomerFields {
            customer_code: r.customer_code.clone(),
            name: r.name.clone(),
            email: r.email.clone(),
            phone: r.phone.clone(),
            address: r.address.clone(),
            city: r.city.clone(),
            date_of_birth: r.date_of_birth,
            gender: r.gender.clone(),
            preferred_store_id: r.preferred_store_id,
            is_active: r.is_active,
        }
    }

    fn apply(mut self, c: CustomerChanges) -> CustomerFields {
        use crate::fields::set;
        set(&mut self.customer_code, c.customer_code);
        set(&mut self.name, c.name);
        set(&mut self.email, c.email);
        set(&mut self.phone, c.phone);
        set(&mut self.address, c.address);
        set(&mut self.city, c.city);
        set(&mut self.date_of_birth, c.date_of_birth);
        set(&mut self.gender, c.gender);
        set(&mut self.preferred_store_id, c.preferred_store_id);
        set(&mut self.is_active, c.is_active);
        self
    }

    fn check(self, today: NaiveDate) -> ApiResult<CustomerFields> {
        let shaped = |field: &str, v: &Option<String>, max, f| {
            crate::fields::opt_shaped(field, v.as_deref(), max, f)
        };
        if let Some(d) = self.date_of_birth
            && (d > today || d < NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(d))
        {
            return Err(ApiError::field(
                "date_of_birth",
                "must be a date from 1900-01-01 to today",
            ));
        }
        Ok(CustomerFields {
            customer_code: opt_text("customer_code", self.customer_code.as_deref(), 100)?,
            name: text("name", &self.name, 255)?,
            email: shaped("email", &self.email, 255, crate::fields::email)?,
            phone: shaped("phone", &self.phone, 20, crate::fields::phone)?,
            address: opt_text("address", self.address.as_deref(), 2000)?,
            city: opt_text("city", self.city.as_deref(), 100)?,
            date_of_birth: self.date_of_birth,
            gender: shaped("gender", &self.gender, 10, crate::fields::gender)?,
            preferred_store_id: self.preferred_store_id,
            is_active: self.is_active,
        })
    }
}

/// Binds a customer's writable columns, in the order the statements list them.
macro_rules! bind_customer_fields {
    ($q:expr, $f:expr) => {
        $q.bind(&$f.customer_code)
            .bind(&$f.name)
            .bind(&$f.email)
            .bind(&$f.phone)
            .bind(&$f.address)
            .bind(&$f.city)
            .bind($f.date_of_birth)
            .bind(&$f.gender)
            .bind($f.preferred_store_id.map(to_i64))
            .bind($f.is_active)
    };
}

const CUSTOMER_COLUMNS: &str =
    "id, customer_uuid, customer_code, name, email, phone, address, city,
    date_of_birth, gender, preferred_store_id, is_active, created_at, updated_at";

/// Customers matching `filter` (`id = ?`, `customer_uuid = ?` or a search), a page of them,
/// with their consolidated figures, and how many match.
async fn customer_records(
    db: &Db,
    by: Lookup<'_>,
    page: u32,
    per_page: u32,
) -> ApiResult<(Vec<CustomerRecord>, i64)> {
    let offset = i64::from(page.saturating_sub(1)) * i64::from(per_page);
    Ok(on_db!(db, |pool, B| {
        let (filter, arg_text, arg_id): (&str, Option<String>, Option<i64>) = match by {
            Lookup::Id(id) => ("id = ?", None, Some(to_i64(id))),
            Lookup::Uuid(u) => ("customer_uuid = ?", Some(u.to_string()), None),
            Lookup::Search(None) => ("1 = 1", None, None),
            Lookup::Search(Some(q)) => (
                "(name LIKE ? OR phone LIKE ? OR email LIKE ? OR customer_code LIKE ?)",
                Some(format!(
                    "%{}%",
                    q.replace('!', "!!").replace('%', "!%").replace('_', "!_")
                )),
                None,
            ),
        };
        // `!` escapes the wildcards the search text holds (one spelling for both databases).
        let filter = filter.replace("LIKE ?", "LIKE ? ESCAPE '!'");
        let bind_args = |sql: String| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            if let Some(i) = arg_id {
                q = q.bind(i);
            }
            if let Some(t) = &arg_text {
                let n = if matches!(by, Lookup::Search(Some(_))) {
                    4
                } else {
                    1
                };
                for _ in 0..n {
                    q = q.bind(t.clone());
                }
            }
            q
        };
        let total: i64 = {
            let r = bind_args(format!(
                "SELECT COUNT(*) AS n FROM customers WHERE {filter}"
            ))
            .fetch_one(pool)
            .await?;
            B::int(&r, "n")?
        };
        let rows = bind_args(format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE {filter} ORDER BY name, id LIMIT {per_page} OFFSET {offset}"
        ))
        .fetch_all(pool)
        .await?;
        // The page's consolidated figures in two queries, not three per customer.
        let ids: Vec<i64> = rows
            .iter()
            .map(|r| B::int(r, "id"))
            .collect::<Result<_, _>>()?;
        let mut points: HashMap<i64, i64> = HashMap::new();
        let mut visits: HashMap<i64, Vec<StoreRow>> = HashMap::new();
        if !ids.is_empty() {
            let list = crate::ingest::in_list(ids.len());
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT customer_id, CAST(COALESCE(SUM(points), 0) AS SIGNED) AS n FROM loyalty_entries
                 WHERE customer_id IN ({list}) GROUP BY customer_id"
            )));
            for id in &ids {
                q = q.bind(*id);
            }
            for p in q.fetch_all(pool).await? {
                points.insert(B::int(&p, "customer_id")?, B::int(&p, "n")?);
            }
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT customer_id, store_id, COUNT(*) AS visits, MIN(transaction_date) AS first_visit,
                    MAX(transaction_date) AS last_visit, COALESCE(SUM(total_amount), 0) AS total
                 FROM transactions WHERE customer_id IN ({list})
                 GROUP BY customer_id, store_id ORDER BY customer_id, store_id"
            )));
            for id in &ids {
                q = q.bind(*id);
            }
            for v in q.fetch_all(pool).await? {
                visits.entry(B::int(&v, "customer_id")?).or_default().push((
                    B::int(&v, "store_id")?,
                    B::int(&v, "visits")?,
                    v.try_get("first_visit")?,
                    v.try_get("last_visit")?,
                    B::get_money(&v, "total")?,
                ));
            }
        }
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id = B::int(r, "id")?;
            let stores = visits.remove(&id).unwrap_or_default();
            let by_store: Vec<StoreVisits> = stores
                .iter()
                .map(|(store, n, ..)| StoreVisits {
                    store_id: to_u64(*store),
                    visits: *n,
                })
                .collect();
            let first = stores.iter().filter_map(|v| v.2).min();
            let last = stores.iter().filter_map(|v| v.3).max();
            let purchases: Decimal = stores.iter().map(|v| v.4).sum();
            let points = points.get(&id).copied().unwrap_or(0);
            out.push(CustomerRecord {
                id: to_u64(id),
                customer_uuid: r.try_get("customer_uuid")?,
                customer_code: r.try_get("customer_code")?,
                name: r.try_get("name")?,
                email: r.try_get("email")?,
                phone: r.try_get("phone")?,
                address: r.try_get("address")?,
                city: r.try_get("city")?,
                date_of_birth: r.try_get("date_of_birth")?,
                gender: r.try_get("gender")?,
                loyalty_points: points,
                total_purchases: purchases,
                total_visits: by_store.iter().map(|v| v.visits).sum(),
                first_visit: first,
                last_visit: last,
                visits_by_store: by_store,
                preferred_store_id: B::opt_int(r, "preferred_store_id")?.map(to_u64),
                is_active: B::int(r, "is_active")? != 0,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            });
        }
        (out, total)
    }))
}

/// A customer's sales in one store: store, visits, first and last visit, purchases.
type StoreRow = (
    i64,
    i64,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Decimal,
);

#[derive(Debug, Clone, Copy)]
enum Lookup<'a> {
    Id(u64),
    Uuid(uuid::Uuid),
    Search(Option<&'a str>),
}

/// A customer named by its numeric id or its `customer_uuid`.
async fn find(db: &Db, raw: &str) -> ApiResult<CustomerRecord> {
    let by = if let Ok(id) = raw.parse::<u64>() {
        Lookup::Id(id)
    } else if let Ok(u) = uuid::Uuid::parse_str(raw) {
        Lookup::Uuid(u)
    } else {
        return Err(ApiError::not_found(format!("customer {raw:?}")));
    };
    customer_records(db, by, 1, 1)
        .await?
        .0
        .pop()
        .ok_or_else(|| ApiError::not_found(format!("customer {raw:?}")))
}

/// Which customers a credential may write (the route admits managers): a store's manager
/// only those whose preferred store is theirs.
fn may_write(principal: &Principal, preferred: Option<u64>) -> ApiResult<()> {
    if let Some(own) = principal.scope()
        && preferred != Some(own)
    {
        return Err(ApiError::forbidden(
            "A store's manager changes the customers whose preferred store is theirs",
        ));
    }
    Ok(())
}

async fn check_store(db: &Db, store: Option<u64>) -> ApiResult<()> {
    if let Some(s) = store {
        crate::stores::resolve_store_any(db, &s.to_string())
            .await
            .map_err(|_| ApiError::missing("preferred_store_id", "no such store"))?;
    }
    Ok(())
}

/// `GET /api/customers`.
pub async fn list_customers(
    State(state): State<AppState>,
    Query(q): Query<CustomerQuery>,
) -> ApiResult<axum::Json<CustomerList>> {
    let per_page = q.per_page.unwrap_or(50).clamp(1, 200);
    let page = q.page.unwrap_or(1).max(1);
    let search = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if search.is_some_and(|s| s.chars().count() > 100) {
        return Err(ApiError::field("search", "must be at most 100 characters"));
    }
    let (data, total) = customer_records(&state.db, Lookup::Search(search), page, per_page).await?;
    Ok(axum::Json(CustomerList {
        data,
        meta: kasir_schema::wire::PageMeta {
            current_page: page,
            total: u64::try_from(total).unwrap_or(0),
            per_page,
        },
    }))
}

/// `GET /api/customers/{id}` (numeric id or `customer_uuid`).
pub async fn get_customer(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> ApiResult<axum::Json<CustomerRecord>> {
    Ok(axum::Json(find(&state.db, &raw).await?))
}

/// `POST /api/customers`: a store's manager creates customers of their store.
pub async fn create_customer(
    State(state): State<AppState>,
    principal: Principal,
    Json(req): Json<NewCustomer>,
) -> ApiResult<(StatusCode, axum::Json<CustomerRecord>)> {
    let preferred = req.preferred_store_id.or(principal.scope());
    may_write(&principal, preferred)?;
    let now = Utc::now();
    let f = CustomerFields {
        customer_code: req.customer_code,
        name: req.name,
        email: req.email,
        phone: req.phone,
        address: req.address,
        city: req.city,
        date_of_birth: req.date_of_birth,
        gender: req.gender,
        preferred_store_id: preferred,
        is_active: req.is_active,
    }
    .check(now.date_naive())?;
    check_store(&state.db, f.preferred_store_id).await?;
    let uuid = req
        .customer_uuid
        .unwrap_or_else(uuid::Uuid::now_v7)
        .to_string();
    let user = principal.user_id().map(to_i64);
    on_db!(&state.db, |pool, B| {
        let mut tx = B::begin(pool).await?;
        let q = sqlx::query(
            "INSERT INTO customers (customer_uuid, customer_code, name, email, phone, address, city, date_of_birth,
                gender, preferred_store_id, is_active, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&uuid);
        let r = bind_customer_fields!(q, f)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await;
        match r {
            Ok(_) => {}
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                return Err(ApiError::field(
                    "customer_code",
                    "the code or customer_uuid belongs to another customer",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        crate::lookups::stamp!(
            B,
            tx,
            crate::lookups::CUSTOMERS,
            state.lookups,
            "UPDATE customers SET sync_version = ?, updated_at = updated_at WHERE customer_uuid IN ({})",
            [],
            [&uuid]
        );
        crate::audit::write(
            &mut *tx,
            user,
            f.preferred_store_id.map(to_i64),
            "customer.create",
            "customers",
            None,
            serde_json::json!({ "customer_uuid": uuid, "name": f.name }),
        )
        .await?;
        tx.commit().await?;
    });
    Ok((
        StatusCode::CREATED,
        axum::Json(find(&state.db, &uuid).await?),
    ))
}

/// `PUT /api/customers/{id}`.
pub async fn update_customer(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
    Json(req): Json<CustomerChanges>,
) -> ApiResult<axum::Json<CustomerRecord>> {
    let current = find(&state.db, &raw).await?;
    may_write(&principal, current.preferred_store_id)?;
    let moved = req.preferred_store_id.is_some();
    let now = Utc::now();
    let f = CustomerFields::from_record(&current)
        .apply(req)
        .check(now.date_naive())?;
    if moved {
        may_write(&principal, f.preferred_store_id)?;
        check_store(&state.db, f.preferred_store_id).await?;
    }
    let user = principal.user_id().map(to_i64);
    on_db!(&state.db, |pool, B| {
        let mut tx = B::begin(pool).await?;
        let q = sqlx::query(
            "UPDATE customers SET customer_code = ?, name = ?, email = ?, phone = ?, address = ?, city = ?,
                date_of_birth = ?, gender = ?, preferred_store_id = ?, is_active = ?, updated_at = ?
             WHERE id = ?",
        );
        let r = bind_customer_fields!(q, f)
            .bind(now)
            .bind(to_i64(current.id))
            .execute(&mut *tx)
            .await;
        match r {
            Ok(_) => {}
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                return Err(ApiError::field(
                    "customer_code",
                    "belongs to another customer",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        crate::lookups::stamp!(
            B,
            tx,
            crate::lookups::CUSTOMERS,
            state.lookups,
            "UPDATE customers SET sync_version = ?, updated_at = updated_at WHERE id IN ({})",
            [],
            [to_i64(current.id)]
        );
        crate::audit::write(
            &mut *tx,
            user,
            f.preferred_store_id.map(to_i64),
            "customer.update",
            "customers",
            Some(to_i64(current.id)),
            serde_json::json!({ "customer_uuid": current.customer_uuid }),
        )
        .await?;
        tx.commit().await?;
    });
    Ok(axum::Json(find(&state.db, &current.customer_uuid).await?))
}
