//! Live counts for an incident: who was prompted, who answered what, and how the emails fare.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::db;
use crate::domain::{IncidentStatus, NotificationState, Role, SafetyStatus};
use crate::error::ApiError;
use crate::routes::caller::Caller;
use crate::routes::with_db;
use crate::state::AppState;

#[derive(Default, Serialize)]
struct Notifications {
    queued: i64,
    sending: i64,
    retrying: i64,
    sent: i64,
    failed: i64,
    suppressed: i64,
    dropped: i64,
}

impl Notifications {
    fn add(&mut self, state: NotificationState, count: i64) {
        let field = match state {
            NotificationState::Queued => &mut self.queued,
            NotificationState::Sending => &mut self.sending,
            NotificationState::Retrying => &mut self.retrying,
            NotificationState::Sent => &mut self.sent,
            NotificationState::Failed => &mut self.failed,
            NotificationState::Suppressed => &mut self.suppressed,
            NotificationState::Dropped => &mut self.dropped,
        };
        *field += count;
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
}

/// `GET /v1/incidents/{id}/stats` (operator).
pub async fn get_incident_stats(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Operator)?;
    let id = path.into_inner();
    let stats = with_db(&state, move |conn| {
        let incident = db::incidents::find(conn, &id)?.ok_or(ApiError::NotFound)?;
        let prompted = db::prompts::count(conn, &id)?;
        let answered = db::prompts::count_answered(conn, &id)?;
        let mut stats = Stats {
            incident_id: incident.id,
            status: incident.status,
            prompted,
            safe: 0,
            not_in_area: 0,
            need_help: 0,
            need_help_handled: db::check_ins::count_need_help_handled(conn, &id)?,
            no_response: prompted - answered,
            notifications: Notifications::default(),
            fanout: Fanout { complete: incident.fanout_done, prompts_created: incident.fanout_prompts },
        };
        for (status, n) in db::check_ins::count_by_status(conn, &id)? {
            match status {
                SafetyStatus::Safe => stats.safe = n,
                SafetyStatus::NotInArea => stats.not_in_area = n,
                SafetyStatus::NeedHelp => stats.need_help = n,
            }
        }
        // The outbox's rows (contacts' emails, reminders) and the emails prompts carry.
        let outbox = db::notifications::count_by_state(conn, Some(&id))?;
        for (state, count) in outbox.into_iter().chain(db::prompt_emails::count_by_state(conn, Some(&id))?) {
            stats.notifications.add(state, count);
        }
        Ok(stats)
    })
    .await?;
    Ok(HttpResponse::Ok().json(stats))
}
