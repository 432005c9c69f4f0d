//! Live counts for an incident: who was prompted, who answered what, and how the emails fare.
//! Once retention has deleted an incident's per-person rows, the counts kept before.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::db;
use crate::domain::{IncidentStatus, Role};
use crate::error::ApiError;
use crate::incidents::counts::{self, EmailCounts};
use crate::routes::caller::Caller;
use crate::routes::dto::rfc3339;
use crate::routes::with_db;
use crate::state::AppState;

#[derive(Serialize)]
struct Notifications {
    queued: i64,
    sending: i64,
    retrying: i64,
    sent: i64,
    failed: i64,
    suppressed: i64,
    dropped: i64,
    cancelled: i64,
}

impl From<EmailCounts> for Notifications {
    fn from(e: EmailCounts) -> Self {
        Self {
            queued: e.queued,
            sending: e.sending,
            retrying: e.retrying,
            sent: e.sent,
            failed: e.failed,
            suppressed: e.suppressed,
            dropped: e.dropped,
            cancelled: e.cancelled,
        }
    }
}

#[derive(Serialize)]
struct Fanout {
    complete: bool,
    prompts_created: i64,
}

#[derive(Serialize)]
struct Stats {
    incident_id: String,
    status: IncidentStatus,
    prompted: i64,
    safe: i64,
    not_in_area: i64,
    need_help: i64,
    /// Of `need_help`, how many an operator marked handled.
    need_help_handled: i64,
    /// Prompted users who have not answered.
    no_response: i64,
    notifications: Notifications,
    fanout: Fanout,
    /// When retention began deleting the incident's per-person rows; the counts are then the
    /// ones kept at that time.
    purged_at: Option<String>,
}

/// `GET /v1/incidents/{id}/stats` (operator).
pub async fn get_incident_stats(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Operator)?;
    let id = path.into_inner();
    let (incident, counts) = with_db(&state, move |conn| {
        let incident = db::incidents::find(conn, &id)?.ok_or(ApiError::NotFound)?;
        Ok((incident, counts::of(conn, &id)?))
    })
    .await?;
    Ok(HttpResponse::Ok().json(Stats {
        incident_id: incident.id,
        status: incident.status,
        prompted: counts.prompted,
        safe: counts.safe,
        not_in_area: counts.not_in_area,
        need_help: counts.need_help,
        need_help_handled: counts.need_help_handled,
        no_response: counts.no_response,
        notifications: counts.emails.into(),
        fanout: Fanout { complete: incident.fanout_done, prompts_created: incident.fanout_prompts },
        purged_at: counts.purged_at.map(rfc3339),
    }))
}
