//! Reminders to prompted users who have not answered.

use actix_web::{HttpResponse, web};

use crate::domain::Role;
use crate::error::ApiError;
use crate::incidents::reminders::{self, RemindError};
use crate::routes::caller::Caller;
use crate::routes::incidents::actor_of;
use crate::routes::with_db;
use crate::state::AppState;

/// `POST /v1/incidents/{id}/reminders` (operator): emails every prompted user who has not
/// answered and is due a reminder; says how many were queued and why others were skipped.
pub async fn send_reminders(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Operator)?;
    let id = path.into_inner();
    let limits = state.config.reminders;
    let now = state.clock.now();
    let incident_id = id.clone();
    let reminded = with_db(&state, move |conn| {
        let actor = actor_of(conn, &caller)?;
        reminders::remind(conn, &incident_id, &actor, limits, now).map_err(|e| match e {
            RemindError::NotFound => ApiError::NotFound,
            RemindError::NotActive => ApiError::conflict("status", "the incident is not active"),
            RemindError::Db(e) => e.into(),
        })
    })
    .await?;
    if reminded.queued > 0 {
        state.wakeups.delivery.notify_one();
    }
    tracing::info!(incident = %id, queued = reminded.queued, "reminders queued");
    let mut body = serde_json::to_value(reminded).map_err(anyhow::Error::from)?;
    body["incident_id"] = serde_json::Value::String(id);
    Ok(HttpResponse::Ok().json(body))
}
