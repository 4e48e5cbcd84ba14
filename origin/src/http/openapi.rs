//! The OpenAPI document (hand-written, checked against the router in tests).

use axum::http::header;
use axum::response::IntoResponse;

pub const DOCUMENT: &str = include_str!("../../openapi.json");

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
