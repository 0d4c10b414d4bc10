//! `GET /api/openapi.json`: an OpenAPI 3.0 document of every route, built from
//! [`crate::ROUTES`] (the same list the router is built from, so none is left out).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::ROUTES;

/// The document.
pub fn build() -> Value {
    let mut paths: BTreeMap<&str, serde_json::Map<String, Value>> = BTreeMap::new();
    for r in ROUTES {
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        let mut op = json!({
            "summary": r.summary,
            "description": format!("Who may call it: {}.", r.access.describe()),
            "parameters": params,
            "responses": {
                "200": { "description": "Success (201 for a creation)" },
                "default": {
                    "description": "Any error: 401, 403, 404, 409, 413, 415, 422 (per-field `errors`), 429 (`Retry-After`), 5xx",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } }
                }
            }
        });
        if r.access != crate::Who::Public {
            op["security"] = json!([{ "bearer": [] }]);
        }
        if matches!(r.method, "post" | "put") {
            op["requestBody"] = json!({ "required": r.path != "/api/auth/refresh" && r.path != "/api/auth/logout",
                "content": { "application/json": { "schema": { "type": "object" } } } });
        }
        paths
            .entry(r.path)
            .or_default()
            .insert(r.method.to_string(), op);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "kasir HQ gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The HQ API of kasir. Money is an exact JSON number; times are RFC 3339 UTC. Bodies are the types of kasir_schema::wire; unknown fields are refused."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer",
                    "description": "A user's access token (ka1.…) or a store device's token (kd1.…)" }
            },
            "schemas": {
                "ErrorBody": {
                    "type": "object",
                    "required": ["error", "message", "timestamp"],
                    "properties": {
                        "error": { "type": "boolean" },
                        "message": { "type": "string" },
                        "timestamp": { "type": "string", "format": "date-time" },
                        "errors": { "type": "object", "additionalProperties": { "type": "array", "items": { "type": "string" } } }
                    }
                }
            }
        }
    })
}

pub async fn document() -> axum::Json<Value> {
    axum::Json(build())
}
