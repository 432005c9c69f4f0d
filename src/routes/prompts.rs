//! Prompts: the caller's open questions "are you safe?", and the prompts a location update
//! creates when it enters an active incident's area.

use actix_web::{HttpResponse, web};
use chrono::NaiveDateTime;
use diesel::Connection;
use serde::Serialize;
use serde_json::Value;

use crate::db::incidents::IncidentRow;
use crate::db::notifications::PromptEmail;
use crate::db::prompts::PromptRow;
use crate::db::{self, DbConn};
use crate::error::ApiError;
use crate::routes::caller::Caller;
use crate::routes::db as with_db;
use crate::routes::dto::rfc3339;
use crate::startup::AppState;

/// A prompt with what the app needs to show it.
#[derive(Serialize)]
pub struct PromptDto {
    incident_id: String,
    created_at: String,
    source: String,
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
    pub fn new(prompt: PromptRow, incident: &IncidentRow) -> Self {
        Self {
            incident_id: prompt.incident_id,
            created_at: rfc3339(prompt.created_at),
            source: prompt.source,
            incident: PromptIncident {
                id: incident.id.clone(),
                title: incident.title.clone(),
                description: incident.description.clone(),
                area: serde_json::from_str(&incident.area).unwrap_or(Value::Null),
                created_at: rfc3339(incident.created_at),
                expires_at: incident.expires_at.map(rfc3339),
            },
        }
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
    let items: Vec<PromptDto> =
        rows.into_iter().map(|(prompt, incident)| PromptDto::new(prompt, &incident)).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

/// Prompts for the active incidents whose area holds `(lat, lon)`, created now unless the user
/// already has one; returns only the new ones. Runs on the blocking pool.
pub fn prompt_arrival(
    state: &AppState,
    conn: &mut DbConn,
    user_id: &str,
    lat: f64,
    lon: f64,
    recorded_at: NaiveDateTime,
) -> Result<Vec<PromptDto>, ApiError> {
    let now = state.clock.now();
    let staleness = chrono::Duration::from_std(state.config.location_staleness)
        .map_err(|e| ApiError::Internal(e.into()))?;
    if recorded_at < now - staleness {
        return Ok(Vec::new());
    }
    let active = state.active_areas.current(conn)?;
    let mut created = Vec::new();
    for incident in active.iter() {
        let expired = incident.row.expires_at.is_some_and(|t| t <= now);
        if expired || !incident.area.contains(lat, lon) {
            continue;
        }
        let inserted = conn.transaction::<_, diesel::result::Error, _>(|conn| {
            // Only while the incident is still active (the cache may be seconds old).
            if !db::incidents::lock_if_active(conn, &incident.row.id)? {
                return Ok(Vec::new());
            }
            let inserted =
                db::prompts::insert_batch(conn, &incident.row.id, &[user_id.to_owned()], "arrival", now)?;
            db::notifications::enqueue_prompts(
                conn,
                &incident.row,
                PromptEmail::Prompt,
                &db::notifications::first_prompts(&incident.row.id, &inserted),
                now,
            )?;
            Ok(inserted)
        })?;
        if !inserted.is_empty()
            && let Some(prompt) = db::prompts::find(conn, &incident.row.id, user_id)?
        {
            created.push(PromptDto::new(prompt, &incident.row));
        }
    }
    Ok(created)
}
