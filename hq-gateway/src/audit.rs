//! The audit trail: one `audit_logs` row per mutating request, written in the request's own
//! transaction (seed §6: who changed what, when).

use chrono::{DateTime, Utc};

/// Writes an audit row through any executor of either backend.
pub async fn write<'e, E, DB>(
    exec: E,
    user: Option<i64>,
    store: Option<i64>,
    action: &str,
    table: &str,
    record: Option<i64>,
    new_values: serde_json::Value,
) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = DB>,
    DB: sqlx::Database,
    for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> DateTime<Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
{
    sqlx::query(
        "INSERT INTO audit_logs (user_id, store_id, action, table_name, record_id, new_values, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(user)
    .bind(store)
    .bind(action.to_string())
    .bind(table.to_string())
    .bind(record)
    .bind(new_values.to_string())
    .bind(Utc::now())
    .execute(exec)
    .await?;
    Ok(())
}
