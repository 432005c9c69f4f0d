//! Notices: official updates posted and listed, and the retraction of an incident sent in
//! error. (The all clear is `POST /v1/incidents/{id}/resolve` with `notify`.)

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::db;
use crate::db::notices::NoticeRow;
use crate::domain::{IncidentStatus, NoticeKind, NoticeText, Role};
use crate::error::ApiError;
use crate::incidents::notices::{self, Posted, Retracted};
use crate::routes::caller::Caller;
use crate::routes::dto::rfc3339;
use crate::routes::extract::Json;
use crate::routes::idempotency::{self, Claim};
use crate::routes::incidents::{IncidentDto, actor_of};
use crate::routes::paging::{self, PageQuery};
use crate::routes::with_db;
use crate::state::AppState;

/// A notice as clients see it.
#[derive(Clone, Serialize)]
pub struct NoticeDto {
    id: String,
    incident_id: String,
    kind: NoticeKind,
    text: Option<String>,
    urgent: bool,
    /// Whether it is emailed to the people prompted (an update is not when another was emailed
    /// less than 5 minutes before, unless urgent).
    emailed: bool,
    /// Whether every email of it is queued (the walk over the people prompted is done).
    /// Operators only, as `emails_queued`.
    #[serde(skip_serializing_if = "Option::is_none")]
    emails_complete: Option<bool>,
    /// How many of its emails were queued so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    emails_queued: Option<i64>,
    organisation: String,
    /// About a drill.
    exercise: bool,
    created_at: String,
}

impl NoticeDto {
    /// Without the delivery figures, which are the operators' to read.
    pub fn for_user(mut self) -> Self {
        self.emails_complete = None;
        self.emails_queued = None;
        self
    }

    /// As an operator sees it; [`NoticeDto::for_user`] as a user does.
    pub fn new(row: NoticeRow, organisation: &str, exercise: bool) -> Self {
        Self {
            id: row.id,
            incident_id: row.incident_id,
            kind: row.kind,
            text: Some(row.text).filter(|t| !t.is_empty()),
            urgent: row.urgent,
            emailed: row.emailed,
            emails_complete: Some(row.walk_done),
            emails_queued: Some(row.walk_queued),
            organisation: organisation.to_owned(),
            exercise,
            created_at: rfc3339(row.created_at),
        }
    }
}

#[derive(Deserialize)]
pub struct UpdateBody {
    text: String,
    #[serde(default)]
    urgent: bool,
}

/// `POST /v1/incidents/{id}/updates` (operator): an official update of an active incident,
/// emailed to everyone prompted at most once in 5 minutes unless `urgent` (201). 409 once the
/// incident ended. Honours `Idempotency-Key` as check-ins do.
pub async fn post_update(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Operator)?;
    let key = idempotency::key_of(&req)?;
    let Json(parsed) = Json::<UpdateBody>::from_bytes(&req, &body)?;
    let text = NoticeText::parse("text", &parsed.text).map_err(|e| ApiError::Validation(vec![e]))?;
    let incident_id = path.into_inner();
    let location = format!("/v1/incidents/{incident_id}/updates");
    let fingerprint: [&[u8]; 2] = [incident_id.as_bytes(), &body];
    let held = match idempotency::claim(&state, &caller.id, key, &fingerprint, &location).await? {
        Claim::Answered(response) => return Ok(response),
        Claim::Run(held) => held,
    };
    let (now, org) = (state.clock.now(), state.config.org_name.clone());
    let stored_held = held.clone();
    let posted = with_db(&state, move |conn| {
        let actor = actor_of(conn, &caller)?;
        let exercise = db::incidents::find(conn, &incident_id)?.is_some_and(|i| i.exercise);
        let then = |conn: &mut db::DbConn, row: &NoticeRow| match &stored_held {
            Some(held) => held.finish(conn, StatusCode::CREATED, &body_of(row.clone(), &org, exercise)),
            None => Ok(()),
        };
        match notices::post_update(conn, &incident_id, &text, parsed.urgent, &actor, now, then)? {
            Posted::Now(row) => Ok((*row, exercise)),
            Posted::Ended => Err(ApiError::Conflict {
                detail: "the incident has ended; it takes no more updates".into(),
                errors: vec![],
            }),
            Posted::NotFound => Err(ApiError::NotFound),
        }
    })
    .await;
    let (row, exercise) = match posted {
        Ok(posted) => posted,
        Err(error) => {
            if let Some(held) = held {
                held.release(&state).await;
            }
            return Err(error);
        }
    };
    if row.emailed {
        state.wakeups.notices.notify_one();
    }
    tracing::info!(incident = %row.incident_id, notice = %row.id, emailed = row.emailed, "official update posted");
    Ok(HttpResponse::Created()
        .insert_header(("Location", location))
        .content_type("application/json")
        .body(body_of(row, &state.config.org_name, exercise)))
}

fn body_of(row: NoticeRow, organisation: &str, exercise: bool) -> String {
    serde_json::to_string(&NoticeDto::new(row, organisation, exercise)).unwrap_or_else(|_| "{}".into())
}

/// `GET /v1/incidents/{id}/updates`: the incident's notices (official updates, all clear,
/// retraction), newest first, for operators and for every user prompted for it (also once it
/// ended: that is when the all clear or the retraction matters); 404 for anyone else.
pub async fn list_updates(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let incident_id = path.into_inner();
    let limit = query.limit()?;
    let after = query.position()?;
    let operator = caller.role.includes(Role::Operator);
    let (rows, exercise) = with_db(&state, move |conn| {
        let incident = db::incidents::find(conn, &incident_id)?.ok_or(ApiError::NotFound)?;
        if !operator && db::prompts::find(conn, &incident_id, &caller.id)?.is_none() {
            return Err(ApiError::NotFound);
        }
        let all = [NoticeKind::Update, NoticeKind::AllClear, NoticeKind::Retraction];
        Ok((db::notices::page(conn, &incident_id, &all, after.as_ref(), limit)?, incident.exercise))
    })
    .await?;
    let next_cursor = paging::next_cursor(&rows, limit, |r| (r.created_at, r.id.as_str()));
    let org = &state.config.org_name;
    let items: Vec<NoticeDto> = rows
        .into_iter()
        .map(|row| {
            let dto = NoticeDto::new(row, org, exercise);
            if operator { dto } else { dto.for_user() }
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items, "next_cursor": next_cursor })))
}

#[derive(Deserialize)]
pub struct RetractBody {
    reason: String,
}

/// `POST /v1/incidents/{id}/retract` (operator): ends an active incident sent in error (status
/// `retracted`): unsent emails about it are cancelled, open prompts close, and everyone who
/// heard of it (and every contact told of an answer) is emailed that it was sent in error. 409
/// once it ended.
pub async fn retract_incident(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    Json(body): Json<RetractBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Operator)?;
    let reason = NoticeText::parse("reason", &body.reason).map_err(|e| ApiError::Validation(vec![e]))?;
    let incident_id = path.into_inner();
    let now = state.clock.now();
    let note = reason.as_str().to_owned();
    let (row, cancelled) = with_db(&state, move |conn| {
        let actor = actor_of(conn, &caller)?;
        match notices::retract(conn, &incident_id, &reason, &actor, now)? {
            Retracted::Now(row, cancelled) => Ok((*row, cancelled)),
            Retracted::Ended => Err(ApiError::Conflict {
                detail: "the incident has ended already (resolved, expired or retracted)".into(),
                errors: vec![],
            }),
            Retracted::NotFound => Err(ApiError::NotFound),
        }
    })
    .await?;
    debug_assert_eq!(row.status, IncidentStatus::Retracted);
    state.active_areas.invalidate();
    state.wakeups.notices.notify_one();
    tracing::info!(incident = %row.id, emails_cancelled = cancelled, "incident retracted");
    Ok(HttpResponse::Ok().json(IncidentDto::new(row, Some(note))?))
}
