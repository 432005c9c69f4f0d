//! Prompts: the caller's open questions "are you safe?".

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::Value;

use crate::db;
use crate::db::incidents::IncidentRow;
use crate::db::prompts::PromptRow;
use crate::domain::PromptSource;
use crate::error::ApiError;
use crate::routes::caller::Caller;
use crate::routes::dto::{rfc3339, stored_area};
use crate::routes::with_db;
use crate::state::AppState;

/// A prompt with what the app needs to show it.
#[derive(Serialize)]
pub struct PromptDto {
    incident_id: String,
    created_at: String,
    source: PromptSource,
    incident: PromptIncident,
}

#[derive(Serialize)]
struct PromptIncident {
    id: String,
    title: String,
    description: Option<String>,
    area: Value,
    created_at: String,
    expires_at: Option<String>,
}

impl PromptDto {
    pub fn new(prompt: PromptRow, incident: &IncidentRow) -> Result<Self, ApiError> {
        Ok(Self {
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
            },
        })
    }
}

/// `GET /v1/me/prompts`: open prompts of active incidents, newest first.
pub async fn list_prompts(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let rows = with_db(&state, move |conn| {
        crate::incidents::expire_due(conn, now)?;
        Ok(db::prompts::open_for_user(conn, &caller.id)?)
    })
    .await?;
    let items = rows
        .into_iter()
        .map(|(prompt, incident)| PromptDto::new(prompt, &incident))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}
