//! `GET /api/openapi.json`: an OpenAPI 3.1 document of every route, built from
//! [`crate::ROUTES`] (the same list the router is built from, so none is left out) and from
//! each handler's own signature: its `Json<T>` or `JsonBytes<T>` body, its `Query<T>`
//! parameters and its `Json<R>` answer are described by the JSON Schemas `schemars` derives
//! from `T` and `R`, the types serde reads and writes. Nothing is written twice, so the
//! document cannot drift from the code.

use std::collections::BTreeMap;
use std::future::Future;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::ROUTES;
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::extract::{ClientIp, Json, JsonBytes, OptionalJson, Query, RawQuery};

/// What one operation says of its request and answer, filled in from the handler's types.
#[derive(Debug, Default)]
pub struct Operation {
    pub parameters: Vec<Value>,
    pub request_body: Option<Value>,
    pub responses: Map<String, Value>,
    /// Request examples that do not parse as the body's type (a test requires none).
    pub example_errors: Vec<String>,
}

/// An extractor's part of the document (most add nothing).
pub trait DocInput {
    fn describe(_op: &mut Operation, _g: &mut SchemaGenerator) {}
}

/// A handler's answer's part of the document.
pub trait DocOutput {
    fn describe(op: &mut Operation, g: &mut SchemaGenerator);
}

impl<S> DocInput for State<S> {}
impl<T> DocInput for Path<T> {}
impl DocInput for Principal {}
impl DocInput for ClientIp {}
impl DocInput for HeaderMap {}

fn body(schema: Value, required: bool) -> Value {
    let mut media = json!({ "schema": schema });
    if let Some(example) = example_of(&media["schema"]) {
        media["example"] = example;
    }
    json!({ "required": required, "content": { "application/json": media } })
}

/// The example a schema (or the schema it refers to) carries, resolved later: a `$ref` is
/// looked up when the document is assembled.
fn example_of(schema: &Value) -> Option<Value> {
    schema.get("examples").and_then(|e| e.get(0)).cloned()
}

/// The request body `T`, and whether its example (if it has one) parses as `T`.
fn request_body<T: JsonSchema + DeserializeOwned>(
    op: &mut Operation,
    g: &mut SchemaGenerator,
    required: bool,
) {
    let schema = g.subschema_for::<T>().to_value();
    if let Some(example) = T::json_schema(g).get("examples").and_then(|e| e.get(0))
        && let Err(e) = crate::extract::parse_json::<T>(example.to_string().as_bytes())
    {
        op.example_errors
            .push(format!("{}: {}", T::schema_name(), e.message));
    }
    op.request_body = Some(body(schema, required));
}

impl<T: JsonSchema + DeserializeOwned> DocInput for Json<T> {
    fn describe(op: &mut Operation, g: &mut SchemaGenerator) {
        request_body::<T>(op, g, true);
    }
}

impl<T: JsonSchema + DeserializeOwned> DocInput for JsonBytes<T> {
    fn describe(op: &mut Operation, g: &mut SchemaGenerator) {
        request_body::<T>(op, g, true);
    }
}

impl<T: JsonSchema + DeserializeOwned> DocInput for OptionalJson<T> {
    fn describe(op: &mut Operation, g: &mut SchemaGenerator) {
        request_body::<T>(op, g, false);
    }
}

impl<T: JsonSchema> DocInput for Query<T> {
    fn describe(op: &mut Operation, g: &mut SchemaGenerator) {
        query_parameters::<T>(op, g);
    }
}

impl<T: JsonSchema> DocInput for RawQuery<T> {
    fn describe(op: &mut Operation, g: &mut SchemaGenerator) {
        query_parameters::<T>(op, g);
    }
}

/// Each property of `T` is a query parameter.
fn query_parameters<T: JsonSchema>(op: &mut Operation, g: &mut SchemaGenerator) {
    {
        let root = g.root_schema_for::<T>().to_value();
        let required: Vec<&str> = root["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(props) = root["properties"].as_object() {
            for (name, schema) in props {
                let mut schema = schema.clone();
                let description = schema.as_object_mut().and_then(|o| o.remove("description"));
                let example = schema.get("examples").and_then(|e| e.get(0)).cloned();
                let mut p = json!({
                    "name": name,
                    "in": "query",
                    "required": required.contains(&name.as_str()),
                    "schema": schema,
                });
                if let Some(e) = example {
                    p["example"] = e;
                }
                if let Some(d) = description {
                    p["description"] = d;
                }
                op.parameters.push(p);
            }
        }
    }
}

fn answer(op: &mut Operation, status: StatusCode, schema: Value, what: &str) {
    let mut media = json!({ "schema": schema });
    if let Some(example) = example_of(&media["schema"]) {
        media["example"] = example;
    }
    op.responses.insert(
        status.as_u16().to_string(),
        json!({ "description": what, "content": { "application/json": media } }),
    );
}

impl<T: JsonSchema> DocOutput for ApiResult<axum::Json<T>> {
    fn describe(op: &mut Operation, g: &mut SchemaGenerator) {
        answer(
            op,
            StatusCode::OK,
            g.subschema_for::<T>().to_value(),
            "Success",
        );
    }
}

impl<T: JsonSchema> DocOutput for ApiResult<(StatusCode, axum::Json<T>)> {
    fn describe(op: &mut Operation, g: &mut SchemaGenerator) {
        answer(
            op,
            StatusCode::CREATED,
            g.subschema_for::<T>().to_value(),
            "Created",
        );
    }
}

/// An answer whose status tells the outcome (`/health`: 200 healthy, 503 not).
impl<T: JsonSchema> DocOutput for (StatusCode, axum::Json<T>) {
    fn describe(op: &mut Operation, g: &mut SchemaGenerator) {
        let schema = g.subschema_for::<T>().to_value();
        answer(op, StatusCode::OK, schema.clone(), "Healthy");
        answer(op, StatusCode::SERVICE_UNAVAILABLE, schema, "Unhealthy");
    }
}

/// This document itself.
impl DocOutput for axum::Json<Value> {
    fn describe(op: &mut Operation, _: &mut SchemaGenerator) {
        answer(
            op,
            StatusCode::OK,
            json!({ "type": "object", "required": ["openapi", "info", "paths"],
                    "examples": [{ "openapi": "3.1.0", "info": { "title": "kasir HQ gateway", "version": "0.1.0" }, "paths": {} }] }),
            "An OpenAPI 3.1 document",
        );
    }
}

/// A handler whose every extractor and whose answer describe themselves.
pub trait Documented<Args> {
    fn document(&self, g: &mut SchemaGenerator) -> Operation;
}

macro_rules! documented {
    ($($arg:ident),*) => {
        impl<F, Fut, $($arg,)*> Documented<($($arg,)*)> for F
        where
            F: Fn($($arg),*) -> Fut,
            Fut: Future,
            Fut::Output: DocOutput,
            $($arg: DocInput,)*
        {
            fn document(&self, g: &mut SchemaGenerator) -> Operation {
                let mut op = Operation::default();
                $(<$arg as DocInput>::describe(&mut op, g);)*
                <Fut::Output as DocOutput>::describe(&mut op, g);
                op
            }
        }
    };
}

documented!();
documented!(A1);
documented!(A1, A2);
documented!(A1, A2, A3);
documented!(A1, A2, A3, A4);
documented!(A1, A2, A3, A4, A5);
documented!(A1, A2, A3, A4, A5, A6);

/// `POST /api/users`: an HQ-wide role has no store, a store's role names its store (and
/// `manager` is a till's role, not an HQ account's).
pub fn user_roles(schema: &mut schemars::Schema) {
    schema.insert("anyOf".into(), role_variants(true));
}

/// `PUT /api/users/{id}`: as [`user_roles`] when the role changes.
pub fn user_role_changes(schema: &mut schemars::Schema) {
    let mut variants = role_variants(false);
    if let Some(v) = variants.as_array_mut() {
        v.push(json!({ "type": "object", "properties": { "role": { "type": "null" } } }));
    }
    schema.insert("anyOf".into(), variants);
}

fn role_variants(store_required: bool) -> Value {
    use kasir_schema::roles::Role;
    let names = |store: bool| -> Vec<&str> {
        Role::ALL
            .iter()
            .filter(|r| r.is_store_scoped() == store && **r != Role::Manager)
            .map(|r| r.as_str())
            .collect()
    };
    let mut store = json!({ "type": "object", "properties": { "role": { "enum": names(true) }, "store_id": { "type": "integer" } } });
    if store_required {
        store["required"] = json!(["role", "store_id"]);
    }
    json!([
        { "type": "object", "properties": { "role": { "enum": names(false) }, "store_id": { "type": "null" } } },
        store,
    ])
}

/// The schema generator of the document: OpenAPI 3.1 takes JSON Schema 2020-12 as it is,
/// with the definitions under `#/components/schemas`.
pub fn generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .with_transform(schemars::transform::RecursiveTransform(bound_integers))
        .into_generator()
}

/// Ids are stored as signed 64-bit integers and counts as 32-bit: an unsigned integer says
/// how large it may be, so the document promises no value the API then refuses.
fn bound_integers(schema: &mut schemars::Schema) {
    let max: u64 = match schema.get("format").and_then(Value::as_str) {
        Some("int64") => i64::MAX.unsigned_abs(),
        Some("uint64") => u64::MAX,
        Some("uint32") => u32::MAX.into(),
        Some("uint16") => u16::MAX.into(),
        _ => return,
    };
    if schema.get("maximum").is_none() {
        schema.insert("maximum".into(), Value::from(max));
    }
}

/// An example value for a path parameter, by its name.
fn path_example(name: &str) -> Value {
    match name {
        "store_id" => json!("JKT-001"),
        "barcode" => json!("8991234567895"),
        _ => json!("1"),
    }
}

/// Fills `#/components/schemas` refs' examples into the operations that use them.
fn resolve_examples(op: &mut Value, schemas: &Map<String, Value>) {
    let lookup = |media: &mut Value| {
        if media.get("example").is_some() {
            return;
        }
        let named = |schema: &Value| {
            schema["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                .and_then(|name| schemas.get(name))
                .and_then(example_of)
        };
        if let Some(example) = named(&media["schema"]) {
            media["example"] = example;
        } else if let Some(item) = named(&media["schema"]["items"]) {
            // A list of a type with an example: a list of that example.
            media["example"] = json!([item]);
        }
    };
    if let Some(media) = op.pointer_mut("/requestBody/content/application~1json") {
        lookup(media);
    }
    if let Some(responses) = op["responses"].as_object_mut() {
        for r in responses.values_mut() {
            if let Some(media) = r.pointer_mut("/content/application~1json") {
                lookup(media);
            }
        }
    }
}

/// The document.
pub fn build() -> Value {
    let mut g = generator();
    let mut paths: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    for r in ROUTES {
        let op = (r.document)(&mut g);
        let mut parameters: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                json!({ "name": name, "in": "path", "required": true,
                    "schema": { "type": "string", "minLength": 1 }, "example": path_example(name) })
            })
            .collect();
        parameters.extend(op.parameters);
        let mut responses = op.responses;
        responses.insert(
            "default".into(),
            json!({
                "description": "Any error: 400, 401, 403, 404, 405, 409, 413, 415, 422 (per-field `errors`), 429 (`Retry-After`), 5xx",
                "content": { "application/json": { "schema": g.subschema_for::<kasir_schema::wire::ErrorBody>().to_value() } }
            }),
        );
        let mut doc = json!({
            "operationId": format!("{}{}", r.method, r.path.replace(['/', '{', '}', '-', '.'], "_")),
            "summary": r.summary,
            "description": format!("Who may call it: {}.", r.access.describe()),
            "parameters": parameters,
            "responses": responses,
        });
        if let Some(b) = op.request_body {
            doc["requestBody"] = b;
        }
        if r.access != crate::Who::Public {
            doc["security"] = json!([{ "bearer": [] }]);
        }
        paths
            .entry(r.path)
            .or_default()
            .insert(r.method.to_string(), doc);
    }
    let schemas: Map<String, Value> = g.take_definitions(true).into_iter().collect();
    let mut paths = serde_json::to_value(paths).unwrap_or_default();
    if let Some(p) = paths.as_object_mut() {
        for item in p.values_mut() {
            if let Some(ops) = item.as_object_mut() {
                for op in ops.values_mut() {
                    resolve_examples(op, &schemas);
                }
            }
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "kasir HQ gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The HQ API of kasir. Money is an exact JSON number; times are RFC 3339 UTC. Bodies are the types of kasir_schema::wire and the gateway; unknown fields are refused. Every schema here is generated from those Rust types. Request bodies may be gzip- or zstd-compressed (Content-Encoding; the size limit counts the inflated bytes); answers of 1 KiB or more are compressed when Accept-Encoding allows."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer",
                    "description": "A user's access token (ka1.…) or a store device's token (kd1.…)" }
            },
            "schemas": schemas
        }
    })
}

/// The document, built once per process (it depends on the code only).
pub async fn document() -> axum::Json<Value> {
    static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    axum::Json(DOC.get_or_init(build).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every request example parses as its body's type, and every operation shows an example:
    /// of its body, of its answer, or of a parameter.
    #[test]
    fn every_operation_has_an_example_that_parses() {
        let mut g = generator();
        for r in ROUTES {
            let op = (r.document)(&mut g);
            assert!(
                op.example_errors.is_empty(),
                "{} {}: {:?}",
                r.method,
                r.path,
                op.example_errors
            );
        }
        let doc = build();
        let mut missing = Vec::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                let body = op
                    .pointer("/requestBody/content/application~1json/example")
                    .is_some();
                let answer = op["responses"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .any(|(code, r)| {
                        code.starts_with('2')
                            && r.pointer("/content/application~1json/example").is_some()
                    });
                let param = op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p.get("example").is_some());
                if !(body || answer || param) {
                    missing.push(format!("{method} {path}"));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "operations without an example: {missing:?}"
        );
    }
}
