//! `GET /metrics` for Prometheus, and the middleware that counts requests.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::db;
use crate::error::ApiError;
use crate::metrics::OutboxSnapshot;
use crate::routes::with_db;
use crate::state::AppState;

/// `GET /metrics` on the API listener: for scrapers with the configured bearer token. Without
/// it, 401, also when no token is configured (metrics are then off here, or on their own
/// listener): the contract says this route needs a token, and the answer to a caller without
/// one does not depend on, nor tell, how the server is set up.
pub async fn get_metrics(state: web::Data<AppState>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let refused = ApiError::Unauthorized("a valid metrics token is required");
    let Some(expected) = &state.config.metrics.token else {
        return Err(refused);
    };
    let given = request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Comparing digests keeps the comparison's timing independent of the token's bytes.
    if Sha256::digest(given.as_bytes()) != Sha256::digest(expected.expose_secret().as_bytes()) {
        return Err(refused);
    }
    exposition(&state).await
}

/// `GET /metrics` on the metrics listener (`SAFECHECK_METRICS_LISTEN`): no token.
pub async fn get_metrics_private(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    exposition(&state).await
}

async fn exposition(state: &AppState) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let snapshot = with_db(state, move |conn| {
        Ok(OutboxSnapshot {
            // The outbox's rows and the emails prompts carry: one figure per state.
            notifications_by_state: [
                db::notifications::count_by_state(conn, None)?,
                db::prompt_emails::count_by_state(conn, None)?,
            ]
            .concat(),
            drill_notifications_by_state: db::notices::drill_emails_by_state(conn)?,
            oldest_due: db::notifications::oldest_due(conn, now)?
                .into_iter()
                .chain(db::prompt_emails::oldest_due(conn, now)?)
                .min(),
            fanouts: db::incidents::active(conn)?
                .into_iter()
                .map(|i| (i.id, i.fanout_prompts, i.fanout_done, i.exercise))
                .collect(),
        })
    })
    .await?;
    let text = state.metrics.render(&snapshot, now).map_err(anyhow::Error::from)?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text))
}

/// Counts each request by its route pattern (never the raw path) and final status.
pub async fn count_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    // Any token is a method to HTTP: an unknown one must not mint new series.
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    };
    let route = req.match_pattern().unwrap_or_else(|| "(unmatched)".to_owned());
    let metrics = req.app_data::<web::Data<AppState>>().map(|state| state.metrics.clone());
    let res = next.call(req).await?;
    if let Some(metrics) = metrics {
        metrics.observe_request(method, &route, res.status().as_u16(), started.elapsed());
    }
    Ok(res)
}
