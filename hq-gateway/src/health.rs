//! `GET /health` (seed §10.1): the database and the upload and webhook queues.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use kasir_schema::wire::{HealthCheck, HealthResponse};

use crate::AppState;

/// `GET /health`: 200 when the database answers and the upload log is readable, else 503.
pub async fn health(State(state): State<AppState>) -> (StatusCode, axum::Json<HealthResponse>) {
    let mut checks = BTreeMap::new();
    let db = match tokio::time::timeout(std::time::Duration::from_secs(3), state.db.ping()).await {
        Ok(Ok(())) => HealthCheck {
            status: "ok".into(),
            message: format!("{} connection successful", state.db.backend()),
        },
        Ok(Err(e)) => HealthCheck {
            status: "error".into(),
            message: format!("database: {e}"),
        },
        Err(_) => HealthCheck {
            status: "error".into(),
            message: "database did not answer within 3 s".into(),
        },
    };
    checks.insert("database".to_string(), db);
    let queue = match (
        crate::sync::failed_uploads_last_hour(&state.db).await,
        crate::webhooks::backlog(&state.db).await,
    ) {
        (Ok(n), Ok((pending, failed))) => HealthCheck {
            status: "ok".into(),
            message: format!(
                "{n} failed uploads in the last hour; webhooks: {pending} pending, {failed} given up"
            ),
        },
        (Err(e), _) | (_, Err(e)) => HealthCheck {
            status: "error".into(),
            message: format!("queue: {}", e.message),
        },
    };
    checks.insert("queue".to_string(), queue);
    let healthy = checks.values().all(|c| c.status == "ok");
    let body = HealthResponse {
        status: if healthy { "healthy" } else { "unhealthy" }.into(),
        checks,
        timestamp: Utc::now(),
    };
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body))
}
