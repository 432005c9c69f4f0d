//! Incidents: activate (or dry-run), list, show, resolve.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::db::incidents::IncidentRow;
use crate::db::{self, DbConn};
use crate::domain::incident::MAX_DESCRIPTION_CHARS;
use crate::domain::{Area, FieldError, IncidentStatus, IncidentText, Role};
use crate::error::ApiError;
use crate::incidents::{self, Activation, Actor, Resolved, approval};
use crate::routes::caller::Caller;
use crate::routes::dto::{rfc3339, stored_area};
use crate::routes::extract::Json;
use crate::routes::paging::{self, PageQuery};
use crate::routes::with_db;
use crate::state::AppState;

/// An incident as clients see it.
#[derive(Serialize)]
pub struct IncidentDto {
    id: String,
    title: String,
    description: Option<String>,
    area: Value,
    status: IncidentStatus,
    created_at: String,
    expires_at: Option<String>,
    resolved_at: Option<String>,
    resolution: Option<String>,
    resolution_note: Option<String>,
    exercise: bool,
    /// Operators only, as `approval`.
    #[serde(skip_serializing_if = "Option::is_none")]
    notify_contacts: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    approval: Option<ApprovalDto>,
    fanout: FanoutDto,
}

/// Who approved a large activation, or until when it waits.
#[derive(Serialize)]
struct ApprovalDto {
    expires_at: Option<String>,
    approved_at: Option<String>,
    would_prompt_at_least: Option<i64>,
}

#[derive(Serialize)]
struct FanoutDto {
    complete: bool,
    prompts_created: i64,
}

impl IncidentDto {
    /// What a user (not an operator) sees: not how its people's contacts are handled nor how
    /// many were counted for approval.
    fn for_user(mut self) -> Self {
        self.notify_contacts = None;
        self.approval = None;
        self
    }

    /// The incident with the note it was resolved with, if any.
    pub fn new(row: IncidentRow, resolution_note: Option<String>) -> Result<Self, ApiError> {
        Ok(Self {
            area: stored_area(&row)?,
            id: row.id,
            title: row.title,
            description: row.description,
            status: row.status,
            created_at: rfc3339(row.created_at),
            expires_at: row.expires_at.map(rfc3339),
            resolved_at: row.resolved_at.map(rfc3339),
            resolution: row.resolution,
            resolution_note,
            exercise: row.exercise,
            notify_contacts: Some(row.notify_contacts),
            approval: row.would_prompt.map(|n| ApprovalDto {
                expires_at: row
                    .approval_expires_at
                    .filter(|_| row.status == IncidentStatus::PendingApproval)
                    .map(rfc3339),
                approved_at: row.approved_at.map(rfc3339),
                would_prompt_at_least: Some(n),
            }),
            fanout: FanoutDto { complete: row.fanout_done, prompts_created: row.fanout_prompts },
        })
    }
}

#[derive(Deserialize)]
pub struct CreateIncidentBody {
    title: String,
    description: Option<String>,
    area: Value,
    expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    dry_run: bool,
    /// A drill (CAP's status Exercise).
    #[serde(default)]
    exercise: bool,
    /// Whether contacts are emailed their people's answers: always for a real incident, for a
    /// drill only when true.
    notify_contacts: Option<bool>,
}

/// `POST /v1/incidents` (operator): activates an incident and starts the fan-out (201), or with
/// `dry_run` says how many users it would prompt and stores nothing but the audit record (200).
pub async fn create_incident(
    state: web::Data<AppState>,
    caller: Caller,
    Json(body): Json<CreateIncidentBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Operator)?;
    let now = state.clock.now();
    if !body.exercise && body.notify_contacts == Some(false) {
        return Err(ApiError::invalid(
            "notify_contacts",
            "only a drill (exercise: true) may leave contacts out",
        ));
    }
    let mut activation =
        parse_activation(&state, body.title, body.description, body.area, body.expires_at, now).await?;
    activation.exercise = body.exercise;
    activation.notify_contacts = body.notify_contacts.unwrap_or(!body.exercise);
    let actor = with_db(&state, move |conn| actor_of(conn, &caller)).await?;
    let (chunk, threshold) = (state.config.fanout_chunk, state.config.approval_threshold);
    if body.dry_run {
        let area = activation.area.to_json();
        let would_prompt =
            with_db(&state, move |conn| Ok(incidents::dry_run(conn, &activation, &actor, chunk, now)?))
                .await?;
        return Ok(HttpResponse::Ok().json(json!({
            "dry_run": true,
            "would_prompt": would_prompt,
            "area": area,
            "approval_required": would_prompt > threshold,
            "approval_threshold": threshold,
        })));
    }
    let wait = state.config.approval_timeout;
    let row = with_db(&state, move |conn| {
        let (counted, beyond) =
            approval::count_beyond(conn, &activation.area, activation.fresh_since, chunk, threshold)?;
        let pending = beyond.then(|| approval::Pending {
            expires_at: now + wait,
            would_prompt: i64::try_from(counted).unwrap_or(i64::MAX),
        });
        Ok(incidents::activate(conn, activation, &actor, now, pending)?)
    })
    .await?;
    let location = ("Location", format!("/v1/incidents/{}", row.id));
    if row.status == IncidentStatus::PendingApproval {
        tracing::info!(incident = %row.id, "activation waits for a second operator's approval");
        return Ok(HttpResponse::Accepted().insert_header(location).json(IncidentDto::new(row, None)?));
    }
    state.active_areas.invalidate();
    state.wakeups.fanout.notify_one();
    tracing::info!(incident = %row.id, "incident activated");
    Ok(HttpResponse::Created().insert_header(location).json(IncidentDto::new(row, None)?))
}

/// Checks an activation's fields, reporting every bad one at once.
async fn parse_activation(
    state: &AppState,
    title: String,
    description: Option<String>,
    raw_area: Value,
    expires_at: Option<DateTime<Utc>>,
    now: NaiveDateTime,
) -> Result<Activation, ApiError> {
    let text = IncidentText::parse(&title, description.as_deref());
    let mut errors = text.as_ref().err().cloned().unwrap_or_default();
    let expires_at = expires_at.map(|t| t.naive_utc());
    if expires_at.is_some_and(|t| t <= now) {
        errors.push(FieldError::new("expires_at", "must be in the future"));
    }
    // Validating a 10,000-vertex polygon is CPU work: off the actix worker.
    let area = web::block(move || Area::parse(&raw_area)).await?;
    let area = area.map_err(|e| errors.extend(e)).ok();
    let (Ok(text), Some(area)) = (text, area) else { return Err(ApiError::Validation(errors)) };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let fresh_since = now - state.config.location_staleness;
    Ok(Activation { text, area, expires_at, fresh_since, exercise: false, notify_contacts: true })
}

/// 404 unless the incident exists.
pub(crate) async fn incident_exists(state: &AppState, id: &str) -> Result<(), ApiError> {
    let id = id.to_owned();
    with_db(state, move |conn| db::incidents::find(conn, &id)?.map(|_| ()).ok_or(ApiError::NotFound)).await
}

pub(crate) fn actor_of(conn: &mut DbConn, caller: &Caller) -> Result<Actor, ApiError> {
    let user = db::users::find(conn, &caller.id)?
        .ok_or(ApiError::Unauthorized("the account of this token no longer exists"))?;
    Ok(Actor { id: user.id, email: user.email })
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    /// Drills are listed apart: `true` lists them, otherwise real incidents only (operators).
    exercise: Option<bool>,
    // Not `#[serde(flatten)]`: flattened query strings cannot carry numbers.
    cursor: Option<String>,
    limit: Option<i64>,
}

/// `GET /v1/incidents`: operators see every real incident, or with `exercise=true` every drill
/// (newest first, `status` filters); users see the active incidents they were prompted for,
/// drills included (each says so).
pub async fn list_incidents(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page = PageQuery { cursor: query.cursor, limit: query.limit };
    let limit = page.limit()?;
    let after = page.position()?;
    let status = match query.status.as_deref() {
        None => None,
        Some(raw) => Some(raw.parse::<IncidentStatus>().map_err(|m| ApiError::invalid("status", m))?),
    };
    let now = state.clock.now();
    let operator = caller.role.includes(Role::Operator);
    let (rows, mut notes) = with_db(&state, move |conn| {
        incidents::expire_due(conn, now)?;
        let rows = if operator {
            db::incidents::page(conn, status, query.exercise.unwrap_or(false), after.as_ref(), limit)?
        } else if status.is_none_or(|s| s == IncidentStatus::Active) {
            db::incidents::page_prompted(conn, &caller.id, after.as_ref(), limit)?
        } else {
            Vec::new()
        };
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let notes = db::incidents::notes(conn, &ids)?;
        Ok((rows, notes))
    })
    .await?;
    let next_cursor = paging::next_cursor(&rows, limit, |r| (r.created_at, r.id.as_str()));
    let items = rows
        .into_iter()
        .map(|row| {
            let note = notes.remove(&row.id);
            let dto = IncidentDto::new(row, note)?;
            Ok(if operator { dto } else { dto.for_user() })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(HttpResponse::Ok().json(json!({ "items": items, "next_cursor": next_cursor })))
}

/// `GET /v1/incidents/{id}`: operators see any; a user sees an active incident they were
/// prompted for, and 404 otherwise.
pub async fn get_incident(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let now = state.clock.now();
    let operator = caller.role.includes(Role::Operator);
    let (row, mut notes) = with_db(&state, move |conn| {
        incidents::expire_due(conn, now)?;
        let row = db::incidents::find(conn, &id)?.ok_or(ApiError::NotFound)?;
        if !operator {
            let prompted = db::prompts::find(conn, &id, &caller.id)?.is_some();
            if row.status != IncidentStatus::Active || !prompted {
                return Err(ApiError::NotFound);
            }
        }
        let notes = db::incidents::notes(conn, &[&id])?;
        Ok((row, notes))
    })
    .await?;
    let note = notes.remove(&row.id);
    let dto = IncidentDto::new(row, note)?;
    Ok(HttpResponse::Ok().json(if operator { dto } else { dto.for_user() }))
}

/// `POST /v1/incidents/{id}/resolve` (operator): ends the incident; its open prompts close, no
/// one else is prompted, prompt and reminder emails not sent yet are cancelled, and with
/// `notify` an all-clear email goes to everyone prompted. 409 if it had ended already.
pub async fn resolve_incident(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Operator)?;
    let id = path.into_inner();
    let ResolveBody { note, notify } = resolution_note(&request, &body)?;
    let now = state.clock.now();
    let stored_note = note.clone();
    let row = with_db(&state, move |conn| {
        let actor = actor_of(conn, &caller)?;
        let note = note.as_deref();
        match incidents::resolve(conn, &id, Some(&actor), note, notify, now)? {
            Resolved::Now(row) => Ok(*row),
            Resolved::AlreadyResolved => {
                Err(ApiError::Conflict {
                    detail: "the incident is not active: already resolved or expired, retracted, or waiting for approval"
                        .into(),
                    errors: vec![],
                })
            }
            Resolved::NotFound => Err(ApiError::NotFound),
        }
    })
    .await?;
    state.active_areas.invalidate();
    if notify {
        state.wakeups.notices.notify_one();
    }
    tracing::info!(incident = %row.id, notify, "incident resolved");
    Ok(HttpResponse::Ok().json(IncidentDto::new(row, stored_note)?))
}

#[derive(Default, Deserialize)]
struct ResolveBody {
    note: Option<String>,
    /// Email an all-clear notice to everyone prompted.
    #[serde(default)]
    notify: bool,
}

/// The optional `{"note": …, "notify": …}` of a resolve request (an empty body has neither).
fn resolution_note(request: &HttpRequest, body: &[u8]) -> Result<ResolveBody, ApiError> {
    if body.is_empty() {
        return Ok(ResolveBody::default());
    }
    let Json(ResolveBody { note, notify }) = Json::from_bytes(request, body)?;
    // Counted as sent, spaces included, as the spec's maxLength counts.
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_DESCRIPTION_CHARS) {
        return Err(ApiError::invalid("note", format!("must be at most {MAX_DESCRIPTION_CHARS} characters")));
    }
    Ok(ResolveBody { note: note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()), notify })
}
