//! Liveness and readiness.

use actix_web::{HttpResponse, web};
use diesel::connection::SimpleConnection;

use crate::error::ApiError;
use crate::routes::with_db;
use crate::state::AppState;

/// `GET /healthz`: the process is up and serving HTTP.
pub async fn get_healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers; 503 with `Retry-After` when it does not.
pub async fn get_readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    with_db(&state, |conn| conn.batch_execute("SELECT 1").map_err(ApiError::from)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready", "database": "ok" })))
}

/// `GET /openapi.yaml`: the API contract this server implements.
pub async fn get_openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/yaml").body(include_str!("../../api-spec/openapi.yaml"))
}
