//! The second operator of a large activation: approve it (the fan-out starts) or reject it.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::domain::{IncidentStatus, NoticeText, Role};
use crate::error::ApiError;
use crate::incidents::approval::{self, Decided};
use crate::routes::caller::Caller;
use crate::routes::extract::Json;
use crate::routes::incidents::{IncidentDto, actor_of};
use crate::routes::with_db;
use crate::state::AppState;

/// `POST /v1/incidents/{id}/approve` (operator, not the one who activated it): the pending
/// activation becomes active and its people are prompted. 403 for its creator; 409 when it
/// does not wait for approval (approved, rejected, or its wait ran out).
pub async fn approve_incident(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Operator)?;
    let id = path.into_inner();
    let now = state.clock.now();
    let fresh_since = now - state.config.location_staleness;
    let decided = with_db(&state, move |conn| {
        let actor = actor_of(conn, &caller)?;
        Ok(approval::approve(conn, &id, &actor, fresh_since, now)?)
    })
    .await?;
    let row = decided_row(decided)?;
    state.active_areas.invalidate();
    state.wakeups.fanout.notify_one();
    tracing::info!(incident = %row.id, "activation approved");
    Ok(HttpResponse::Ok().json(IncidentDto::new(row, None)?))
}

#[derive(Deserialize)]
pub struct RejectBody {
    reason: String,
}

/// `POST /v1/incidents/{id}/reject` (operator, its creator too): the pending activation is
/// rejected with the reason; nobody is prompted. 409 when it does not wait for approval.
pub async fn reject_incident(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    Json(body): Json<RejectBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Operator)?;
    let reason = NoticeText::parse("reason", &body.reason).map_err(|e| ApiError::Validation(vec![e]))?;
    let id = path.into_inner();
    let now = state.clock.now();
    let note = reason.as_str().to_owned();
    let decided = with_db(&state, move |conn| {
        let actor = actor_of(conn, &caller)?;
        Ok(approval::reject(conn, &id, &actor, reason.as_str(), now)?)
    })
    .await?;
    let row = decided_row(decided)?;
    tracing::info!(incident = %row.id, "activation rejected");
    Ok(HttpResponse::Ok().json(IncidentDto::new(row, Some(note))?))
}

fn decided_row(decided: Decided) -> Result<crate::db::incidents::IncidentRow, ApiError> {
    match decided {
        Decided::Now(row) => Ok(*row),
        Decided::OwnActivation => {
            Err(ApiError::Forbidden("another operator must approve an activation: not the one who made it"))
        }
        Decided::Ended => Err(ApiError::Conflict {
            detail: "the incident's own expiry passed while it waited for approval".into(),
            errors: vec![],
        }),
        Decided::NotPending(status) => Err(ApiError::Conflict {
            detail: match status {
                IncidentStatus::Rejected => "the activation was rejected, or not approved in time".into(),
                other => format!("the incident does not wait for approval: it is {}", other.as_str()),
            },
            errors: vec![],
        }),
        Decided::NotFound => Err(ApiError::NotFound),
    }
}
