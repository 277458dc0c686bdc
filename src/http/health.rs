//! Public liveness and readiness probes.

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::db;

/// A probe's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` when a dependency is down.
    pub status: &'static str,
}

/// The probes, outside `/v1` and without authentication.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "health", operation_id = "get_health",
    responses((status = 200, description = "The process is alive", body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the database answers and its schema is current.
#[utoipa::path(get, path = "/ready", tag = "health", operation_id = "get_ready",
    responses(
        (status = 200, description = "Ready to serve", body = Health),
        (status = 503, description = "The database is unreachable or not migrated", body = Health),
    ))]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let current =
        db::ping(&state.db).await && db::migrations::is_current(&state.db).await.unwrap_or(false);
    if current {
        (StatusCode::OK, Json(Health { status: "ok" }))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "unavailable",
            }),
        )
    }
}

crate::handler_routes!(health, ready);
