//! Check-ins: a user's answer to an incident (honouring `Idempotency-Key`), and their history.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::db::check_ins::CheckInRow;
use crate::db::idempotency::Begin;
use crate::db::{self};
use crate::domain::{CheckInMessage, IncidentStatus, SafetyStatus};
use crate::error::ApiError;
use crate::incidents::check_in::{self, Answer, CheckInError};
use crate::routes::caller::Caller;
use crate::routes::dto::rfc3339;
use crate::routes::with_db;
use crate::state::AppState;

/// Keys live this long (the draft's and Stripe's 24 h).
const KEY_TTL: chrono::Duration = chrono::Duration::hours(24);
/// A first request still "running" after this is taken to have died with its process.
const KEY_ABANDONED_AFTER: chrono::Duration = chrono::Duration::seconds(60);
const MAX_KEY_LEN: usize = 255;

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
pub async fn create_check_in(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let crate::routes::extract::Json(parsed) =
        crate::routes::extract::Json::<CheckInBody>::from_bytes(&req, &body)?;
    let message = parsed
        .message
        .as_deref()
        .map(CheckInMessage::parse)
        .transpose()
        .map_err(|m| ApiError::invalid("message", m))?
        .flatten();
    let incident_id = path.into_inner();
    let now = state.clock.now();
    if let Some(key) = &key {
        let hash = hex::encode(Sha256::digest([incident_id.as_bytes(), b"\0", &body].concat()));
        let (user, k) = (caller.id.clone(), key.clone());
        let begun = with_db(&state, move |conn| {
            Ok(db::idempotency::begin(conn, &user, &k, &hash, now, KEY_TTL, KEY_ABANDONED_AFTER)?)
        })
        .await?;
        match begun {
            Begin::Started => {}
            Begin::Replay { status, body } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED);
                return Ok(HttpResponse::build(status)
                    .content_type("application/json")
                    .insert_header(("Location", format!("/v1/incidents/{incident_id}/check-ins/me")))
                    .insert_header(("Idempotent-Replayed", "true"))
                    .body(body));
            }
            Begin::Mismatch => {
                return Err(ApiError::invalid(
                    "Idempotency-Key",
                    "was used before with a different request body",
                ));
            }
            Begin::InProgress => {
                return Err(ApiError::Conflict {
                    detail: "a request with this Idempotency-Key is still being processed".into(),
                    errors: vec![],
                });
            }
        }
    }
    let answer = Answer { incident_id, user_id: caller.id.clone(), status: parsed.status, message };
    let cap = state.config.delivery.max_per_recipient_per_hour;
    let (user, stored_key) = (caller.id.clone(), key.clone());
    let clock = state.clock.clone();
    let outcome = with_db(&state, move |conn| {
        let recorded = check_in::record(conn, answer, cap, clock.as_ref(), |conn, recorded| {
            let Some(key) = &stored_key else { return Ok(()) };
            let body = created_body(recorded);
            db::idempotency::finish(conn, &user, key, StatusCode::CREATED.as_u16(), &body)
        });
        Ok(recorded)
    })
    .await;
    let recorded = match outcome {
        Ok(Ok(recorded)) => Ok(recorded),
        Ok(Err(CheckInError::NotFound)) => Err(ApiError::NotFound),
        Ok(Err(CheckInError::Resolved)) => Err(ApiError::Conflict {
            detail: "the incident is resolved; it takes no more answers".into(),
            errors: vec![],
        }),
        Ok(Err(CheckInError::Db(e))) => Err(e.into()),
        Ok(Err(CheckInError::Late)) => Err(ApiError::Unavailable),
        Err(e) => Err(e),
    };
    let recorded = match recorded {
        Ok(recorded) => recorded,
        Err(error) => {
            if let Some(key) = key {
                // Whatever failed (a refusal, or the database going away), the key is freed so
                // the client's retry runs again. Best effort: if this fails too, the key is
                // taken as abandoned after a minute.
                let user = caller.id.clone();
                let freed =
                    with_db(&state, move |conn| Ok(db::idempotency::abandon(conn, &user, &key)?)).await;
                if let Err(e) = freed {
                    tracing::warn!(error = %e, "could not free an idempotency key");
                }
            }
            return Err(error);
        }
    };
    if recorded.notifications_queued > 0 {
        state.wakeups.delivery.notify_one();
    }
    let location = format!("/v1/incidents/{}/check-ins/me", recorded.check_in.incident_id);
    Ok(HttpResponse::Created()
        .insert_header(("Location", location))
        .content_type("application/json")
        .body(created_body(&recorded)))
}

fn created_body(recorded: &check_in::Recorded) -> String {
    let dto = CreatedDto {
        check_in: CheckInDto::from(recorded.check_in.clone()),
        notifications_queued: recorded.notifications_queued,
    };
    serde_json::to_string(&dto).unwrap_or_else(|_| "{}".into())
}

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("Idempotency-Key") else { return Ok(None) };
    let key =
        value.to_str().map_err(|_| ApiError::invalid("Idempotency-Key", "must be printable ASCII"))?.trim();
    // The draft's sf-string: quotes are allowed around the key.
    let key = key.strip_prefix('"').and_then(|k| k.strip_suffix('"')).unwrap_or(key);
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(ApiError::invalid("Idempotency-Key", format!("must be 1 to {MAX_KEY_LEN} characters")));
    }
    Ok(Some(key.to_owned()))
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
