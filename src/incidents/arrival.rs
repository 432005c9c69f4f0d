//! Prompts for a user who arrives later: a location update that enters an active incident's
//! area prompts the user at once, as the fan-out would have.

use chrono::NaiveDateTime;
use diesel::Connection;

use super::ActiveAreas;
use crate::db::incidents::IncidentRow;
use crate::db::prompts::PromptRow;
use crate::db::{self, DbConn};
use crate::domain::PromptSource;

/// A user's fresh fix, as the latest location just stored.
#[derive(Clone, Copy, Debug)]
pub struct Arrival<'a> {
    pub user_id: &'a str,
    pub lat: f64,
    pub lon: f64,
    pub recorded_at: NaiveDateTime,
}

/// Prompts the user for each active incident whose area holds the fix, unless they have a
/// prompt for it already, each prompt with its email in one transaction. A fix recorded before
/// `fresh_since` prompts nothing. Returns only the new prompts, each with its incident.
pub fn prompt_arrival(
    conn: &mut DbConn,
    areas: &ActiveAreas,
    arrival: Arrival<'_>,
    fresh_since: NaiveDateTime,
    now: NaiveDateTime,
) -> diesel::QueryResult<Vec<(PromptRow, IncidentRow)>> {
    if arrival.recorded_at < fresh_since {
        return Ok(Vec::new());
    }
    let active = areas.current(conn)?;
    let mut created = Vec::new();
    for incident in active.iter() {
        let expired = incident.row.expires_at.is_some_and(|t| t <= now);
        if expired || !incident.area.contains(arrival.lat, arrival.lon) {
            continue;
        }
        let inserted = conn.transaction::<_, diesel::result::Error, _>(|conn| {
            // Only while the incident is still active (the cache may be seconds old).
            if !db::incidents::lock_if_active(conn, &incident.row.id)? {
                return Ok(Vec::new());
            }
            let user = [arrival.user_id.to_owned()];
            // The new prompt carries its email, queued.
            db::prompts::insert_batch(conn, &incident.row.id, &user, PromptSource::Arrival, now)
        })?;
        if !inserted.is_empty()
            && let Some(prompt) = db::prompts::find(conn, &incident.row.id, arrival.user_id)?
        {
            created.push((prompt, incident.row.clone()));
        }
    }
    Ok(created)
}
