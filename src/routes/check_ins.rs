//! Check-ins: a user's answer to an incident (honouring `Idempotency-Key`), and their history.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::db;
use crate::db::DbConn;
use crate::db::check_ins::CheckInRow;
use crate::domain::{CheckInMessage, IncidentStatus, SafetyStatus};
use crate::error::ApiError;
use crate::incidents::check_in::{self, Answer, CheckInError, Recorded};
use crate::routes::caller::Caller;
use crate::routes::dto::rfc3339;
use crate::routes::extract::Json;
use crate::routes::idempotency::{self, Claim, HeldKey};
use crate::routes::{with_db, with_writer};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct CheckInBody {
    status: SafetyStatus,
    message: Option<String>,
}

#[derive(Clone, Serialize)]
pub struct CheckInDto {
    id: String,
    incident_id: String,
    status: SafetyStatus,
    message: Option<String>,
    created_at: String,
}

impl From<CheckInRow> for CheckInDto {
    fn from(row: CheckInRow) -> Self {
        Self {
            id: row.id,
            incident_id: row.incident_id,
            status: row.status,
            message: row.message,
            created_at: rfc3339(row.created_at),
        }
    }
}

#[derive(Serialize)]
struct CreatedDto {
    #[serde(flatten)]
    check_in: CheckInDto,
    /// Contacts who will be emailed about this answer.
    notifications_queued: usize,
}

/// `POST /v1/incidents/{id}/check-ins`: records the answer (201) while the incident is active
/// (409 once resolved). With `Idempotency-Key`, a retry with the same body replays the first
/// response and changes nothing; another body is 422; a retry while the first runs is 409.
/// Beyond the caller's `check_ins` limit, 429 with `Retry-After` (a replay does not count).
pub async fn create_check_in(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency::key_of(&req)?;
    let Json(parsed) = Json::<CheckInBody>::from_bytes(&req, &body)?;
    let message = parsed.message.as_deref().map(CheckInMessage::parse).transpose();
    let message = message.map_err(|m| ApiError::invalid("message", m))?.flatten();
    let incident_id = path.into_inner();
    let location = format!("/v1/incidents/{incident_id}/check-ins/me");
    let fingerprint: [&[u8]; 2] = [incident_id.as_bytes(), &body];
    let held = match idempotency::claim(&state, &caller.id, key, &fingerprint, &location).await? {
        Claim::Answered(response) => return Ok(response),
        Claim::Run(held) => held,
    };
    let answer = Answer { incident_id, user_id: caller.id.clone(), status: parsed.status, message };
    let recorded = match record(&state, answer, held.clone()).await {
        Ok(recorded) => recorded,
        Err(error) => {
            if let Some(held) = held {
                held.release(&state).await;
            }
            return Err(error);
        }
    };
    if recorded.notifications_queued > 0 {
        state.wakeups.delivery.notify_one();
    }
    Ok(HttpResponse::Created()
        .insert_header(("Location", location))
        .content_type("application/json")
        .body(created_body(&recorded)))
}

/// Counts the answer against the user's `check_ins` limit, records it, and with a key the
/// response for replays, in one transaction (a refusal records nothing). Counted once the key
/// (if any) says the request runs: a replay is not a new answer. On SQLite the answer goes to
/// the one writer, which commits it with the others that arrived meanwhile
/// ([`crate::db::group_commit`]); the response waits for that commit.
async fn record(state: &AppState, answer: Answer, held: Option<HeldKey>) -> Result<Recorded, ApiError> {
    let cap = state.config.delivery.max_per_recipient_per_hour;
    let clock = state.clock.clone();
    let limit = state.user_limits.check_ins;
    let write = move |conn: &mut DbConn| {
        let answer = answer.clone();
        let recorded =
            check_in::record(conn, answer, cap, Some(limit), clock.as_ref(), |conn, recorded| match &held {
                Some(held) => held.finish(conn, StatusCode::CREATED, &created_body(recorded)),
                None => Ok(()),
            });
        recorded.map_err(ApiError::from)
    };
    with_writer(state, write).await
}

impl From<CheckInError> for ApiError {
    fn from(error: CheckInError) -> Self {
        match error {
            CheckInError::NotFound => ApiError::NotFound,
            CheckInError::Resolved => ApiError::Conflict {
                detail: "the incident is resolved; it takes no more answers".into(),
                errors: vec![],
            },
            CheckInError::Late => ApiError::Unavailable,
            CheckInError::Limited(refused) => refused.into(),
            CheckInError::Db(e) => e.into(),
        }
    }
}

fn created_body(recorded: &Recorded) -> String {
    let dto = CreatedDto {
        check_in: CheckInDto::from(recorded.check_in.clone()),
        notifications_queued: recorded.notifications_queued,
    };
    serde_json::to_string(&dto).unwrap_or_else(|_| "{}".into())
}

#[derive(Serialize)]
struct MyCheckIns {
    current: Option<CheckInDto>,
    history: Vec<CheckInDto>,
}

/// `GET /v1/incidents/{id}/check-ins/me`: the caller's current answer and every earlier one.
pub async fn get_my_check_ins(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let incident_id = path.into_inner();
    let history = with_db(&state, move |conn| {
        let incident = db::incidents::find(conn, &incident_id)?.ok_or(ApiError::NotFound)?;
        let history = db::check_ins::history(conn, &incident_id, &caller.id)?;
        // As for the incident itself: operators see any; a resolved incident a user had no part
        // in is not theirs to see.
        let involved = !history.is_empty() || db::prompts::find(conn, &incident_id, &caller.id)?.is_some();
        let sees_all = caller.role.includes(crate::domain::Role::Operator);
        if incident.status != IncidentStatus::Active && !involved && !sees_all {
            return Err(ApiError::NotFound);
        }
        Ok(history)
    })
    .await?;
    let history: Vec<CheckInDto> = history.into_iter().map(CheckInDto::from).collect();
    let current = history.first().cloned();
    Ok(HttpResponse::Ok().json(MyCheckIns { current, history }))
}
