//! Prompts: the caller's open questions "are you safe?", with what operators said since.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::Value;

use crate::db::incidents::IncidentRow;
use crate::db::notices::NoticeRow;
use crate::db::prompts::PromptRow;
use crate::db::{self, DbConn};
use crate::domain::{NoticeKind, PromptSource};
use crate::error::ApiError;
use crate::routes::caller::Caller;
use crate::routes::dto::{rfc3339, stored_area};
use crate::routes::notices::NoticeDto;
use crate::routes::with_db;
use crate::state::AppState;

/// A prompt with what the app needs to show it.
#[derive(Serialize)]
pub struct PromptDto {
    incident_id: String,
    created_at: String,
    source: PromptSource,
    incident: PromptIncident,
    /// The incident's newest official updates, newest first (at most
    /// [`UPDATES_WITH_A_PROMPT`]; all of them at `GET /v1/incidents/{id}/updates`).
    updates: Vec<NoticeDto>,
}

/// How many official updates a prompt carries.
pub const UPDATES_WITH_A_PROMPT: i64 = 10;

#[derive(Serialize)]
struct PromptIncident {
    id: String,
    title: String,
    description: Option<String>,
    area: Value,
    created_at: String,
    expires_at: Option<String>,
    /// A drill: the app shows EXERCISE.
    exercise: bool,
}

impl PromptDto {
    pub fn new(prompt: PromptRow, incident: &IncidentRow, updates: Vec<NoticeDto>) -> Result<Self, ApiError> {
        Ok(Self {
            updates,
            incident_id: prompt.incident_id,
            created_at: rfc3339(prompt.created_at),
            source: prompt.source,
            incident: PromptIncident {
                id: incident.id.clone(),
                title: incident.title.clone(),
                description: incident.description.clone(),
                area: stored_area(incident)?,
                created_at: rfc3339(incident.created_at),
                expires_at: incident.expires_at.map(rfc3339),
                exercise: incident.exercise,
            },
        })
    }
}

/// `GET /v1/me/prompts`: open prompts of active incidents, newest first.
pub async fn list_prompts(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let rows = with_db(&state, move |conn| {
        crate::incidents::expire_due(conn, now)?;
        let open = db::prompts::open_for_user(conn, &caller.id)?;
        Ok(with_updates(conn, open)?)
    })
    .await?;
    let items = dtos(rows, &state.config.org_name)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

/// A prompt, its incident, and the incident's newest official updates.
pub type PromptWithUpdates = (PromptRow, IncidentRow, Vec<NoticeRow>);

/// Each prompt with its incident's newest official updates. A person has a handful of open
/// prompts at most: a query each.
pub fn with_updates(
    conn: &mut DbConn,
    prompts: Vec<(PromptRow, IncidentRow)>,
) -> diesel::QueryResult<Vec<PromptWithUpdates>> {
    prompts
        .into_iter()
        .map(|(prompt, incident)| {
            let updates =
                db::notices::page(conn, &incident.id, &[NoticeKind::Update], None, UPDATES_WITH_A_PROMPT)?;
            Ok((prompt, incident, updates))
        })
        .collect()
}

/// The prompts as clients see them; `organisation` signs the updates.
pub fn dtos(rows: Vec<PromptWithUpdates>, organisation: &str) -> Result<Vec<PromptDto>, ApiError> {
    rows.into_iter()
        .map(|(prompt, incident, updates)| {
            let updates = updates
                .into_iter()
                .map(|u| NoticeDto::new(u, organisation, incident.exercise).for_user())
                .collect();
            PromptDto::new(prompt, &incident, updates)
        })
        .collect()
}
