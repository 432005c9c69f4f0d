//! Incident rules that touch the database: activation and its audit record, resolution,
//! expiry, the fan-out of prompts, and prompts for users who arrive later.

pub mod active_areas;
pub mod arrival;
pub mod check_in;
pub mod fanout;
pub mod reminders;
pub mod triage;

use chrono::NaiveDateTime;
use diesel::Connection;
use serde_json::{Value, json};

use crate::db::audit::AuditRow;
use crate::db::incidents::IncidentRow;
use crate::db::{self, DbConn};

pub use active_areas::ActiveAreas;

/// Who did something, for the audit log (`None`: the system itself, as for expiry).
#[derive(Clone, Debug)]
pub struct Actor {
    pub id: String,
    pub email: String,
}

/// Appends to the audit log.
pub fn audit(
    conn: &mut DbConn,
    actor: Option<&Actor>,
    action: &str,
    incident_id: Option<&str>,
    details: Value,
    at: NaiveDateTime,
) -> diesel::QueryResult<()> {
    db::audit::record(
        conn,
        &AuditRow {
            id: uuid::Uuid::now_v7().to_string(),
            at,
            actor_id: actor.map(|a| a.id.clone()),
            actor_email: actor.map(|a| a.email.clone()),
            action: action.to_owned(),
            incident_id: incident_id.map(str::to_owned),
            details: details.to_string(),
        },
    )
}

/// Stores an active incident and its audit record in one transaction; the fan-out picks it up.
pub fn activate(conn: &mut DbConn, row: &IncidentRow, actor: &Actor) -> diesel::QueryResult<()> {
    conn.transaction(|conn| {
        db::incidents::insert(conn, row)?;
        let area: Value = serde_json::from_str(&row.area).unwrap_or(Value::Null);
        let details = json!({
            "title": row.title,
            "description": row.description,
            "area": area,
            "expires_at": row.expires_at.map(crate::clock::rfc3339),
        });
        audit(conn, Some(actor), "incident.activate", Some(&row.id), details, row.created_at)
    })
}

/// How a resolution went.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved {
    Now,
    AlreadyResolved,
    NotFound,
}

/// Resolves the incident (its open prompts close), recording who did it and why. `actor` is
/// `None` for expiry.
pub fn resolve(
    conn: &mut DbConn,
    id: &str,
    actor: Option<&Actor>,
    note: Option<&str>,
    now: NaiveDateTime,
) -> diesel::QueryResult<Resolved> {
    conn.transaction(|conn| {
        let (resolution, action) =
            if actor.is_some() { ("resolved", "incident.resolve") } else { ("expired", "incident.expire") };
        // The conditional update comes first: it is the write lock (SQLite) and the decision.
        if !db::incidents::resolve(conn, id, actor.map(|a| a.id.as_str()), resolution, note, now)? {
            let exists = db::incidents::find(conn, id)?.is_some();
            return Ok(if exists { Resolved::AlreadyResolved } else { Resolved::NotFound });
        }
        let Some(incident) = db::incidents::find(conn, id)? else { return Ok(Resolved::NotFound) };
        let prompted = db::prompts::count(conn, id)?;
        let details = json!({
            "title": incident.title,
            "expires_at": incident.expires_at.map(crate::clock::rfc3339),
            "prompted": prompted,
            "note": note,
        });
        audit(conn, actor, action, Some(id), details, now)?;
        Ok(Resolved::Now)
    })
}

/// Resolves every active incident whose `expires_at` has passed; returns how many.
pub fn expire_due(conn: &mut DbConn, now: NaiveDateTime) -> diesel::QueryResult<usize> {
    let mut expired = 0;
    for id in db::incidents::due_to_expire(conn, now)? {
        if resolve(conn, &id, None, None, now)? == Resolved::Now {
            tracing::info!(incident = %id, "incident expired");
            expired += 1;
        }
    }
    Ok(expired)
}
