//! Incident rules that touch the database: activation and its audit record, resolution,
//! expiry, the fan-out of prompts, and prompts for users who arrive later.

pub mod active_areas;
pub mod approval;
pub mod arrival;
pub mod check_in;
pub mod counts;
pub mod fanout;
pub mod inside;
pub mod notice_walk;
pub mod notices;
pub mod reminders;
pub mod triage;

use chrono::NaiveDateTime;
use diesel::Connection;
use serde_json::{Value, json};

use crate::db::audit::AuditRow;
use crate::db::incidents::IncidentRow;
use crate::db::{self, DbConn};
use crate::domain::{Area, IncidentStatus, IncidentText, NoticeKind};

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

/// What an activation asks for, checked.
#[derive(Clone, Debug)]
pub struct Activation {
    pub text: IncidentText,
    pub area: Area,
    pub expires_at: Option<NaiveDateTime>,
    /// Users whose latest fix is older than this are not prompted.
    pub fresh_since: NaiveDateTime,
    /// A drill (CAP's status Exercise).
    pub exercise: bool,
    /// Whether contacts are emailed their people's answers (a drill's only when asked).
    pub notify_contacts: bool,
}

/// Stores an incident and its audit record in one transaction: active, and the fan-out picks
/// it up; or, with `pending`, waiting for a second operator's approval
/// ([`approval::approve`]).
pub fn activate(
    conn: &mut DbConn,
    activation: Activation,
    actor: &Actor,
    now: NaiveDateTime,
    pending: Option<approval::Pending>,
) -> diesel::QueryResult<IncidentRow> {
    let area = activation.area.to_json();
    let status = if pending.is_some() { IncidentStatus::PendingApproval } else { IncidentStatus::Active };
    let row = IncidentRow {
        id: uuid::Uuid::now_v7().to_string(),
        title: activation.text.title,
        description: activation.text.description,
        area: area.to_string(),
        status,
        created_by: Some(actor.id.clone()),
        created_at: now,
        expires_at: activation.expires_at,
        resolved_at: None,
        resolved_by: None,
        resolution: None,
        location_cutoff: activation.fresh_since,
        fanout_cursor: None,
        fanout_done: false,
        fanout_prompts: 0,
        fanout_lease_until: None,
        exercise: activation.exercise,
        notify_contacts: activation.notify_contacts,
        approval_expires_at: pending.map(|p| p.expires_at),
        approved_by: None,
        approved_at: None,
        would_prompt: pending.map(|p| p.would_prompt),
    };
    conn.transaction(|conn| {
        db::incidents::insert(conn, &row)?;
        let details = json!({
            "title": row.title,
            "description": row.description,
            "area": area,
            "expires_at": row.expires_at.map(crate::clock::rfc3339),
            "exercise": row.exercise,
            "notify_contacts": row.notify_contacts,
            "pending_approval": pending.map(|p| json!({
                "would_prompt_at_least": p.would_prompt,
                "expires_at": crate::clock::rfc3339(p.expires_at),
            })),
        });
        audit(conn, Some(actor), "incident.activate", Some(&row.id), details, row.created_at)
    })?;
    Ok(row)
}

/// How many users the activation would prompt now, without storing it; the dry run is audited.
pub fn dry_run(
    conn: &mut DbConn,
    activation: &Activation,
    actor: &Actor,
    chunk: i64,
    now: NaiveDateTime,
) -> diesel::QueryResult<u64> {
    let count = fanout::count_inside(conn, &activation.area, activation.fresh_since, chunk)?;
    let details = json!({
        "title": activation.text.title,
        "area": activation.area.to_json(),
        "would_prompt": count,
    });
    audit(conn, Some(actor), "incident.dry_run", None, details, now)?;
    Ok(count)
}

/// How a resolution went.
#[derive(Debug)]
pub enum Resolved {
    /// Resolved by this call; the incident as it now is.
    Now(Box<IncidentRow>),
    AlreadyResolved,
    NotFound,
}

/// Resolves the incident, recording who did it and why (`actor` is `None` for expiry): its open
/// prompts close, and the prompt and reminder emails not sent yet are cancelled (nobody is asked
/// "are you safe?" after the end). With `notify`, an all-clear notice is emailed to everyone
/// prompted.
pub fn resolve(
    conn: &mut DbConn,
    id: &str,
    actor: Option<&Actor>,
    note: Option<&str>,
    notify: bool,
    now: NaiveDateTime,
) -> diesel::QueryResult<Resolved> {
    conn.transaction(|conn| {
        let (resolution, action) =
            if actor.is_some() { ("resolved", "incident.resolve") } else { ("expired", "incident.expire") };
        let status = IncidentStatus::Resolved;
        // The conditional update comes first: it is the write lock (SQLite) and the decision.
        if !db::incidents::end(conn, id, status, actor.map(|a| a.id.as_str()), resolution, note, now)? {
            let exists = db::incidents::find(conn, id)?.is_some();
            return Ok(if exists { Resolved::AlreadyResolved } else { Resolved::NotFound });
        }
        let Some(incident) = db::incidents::find(conn, id)? else { return Ok(Resolved::NotFound) };
        let cancelled = db::notices::cancel_unsent(conn, id, |kind| kind.cancelled_when(status))?;
        if notify {
            db::notices::insert(
                conn,
                &notices::new_notice(id, NoticeKind::AllClear, note, false, true, actor, now),
            )?;
        }
        let prompted = db::prompts::count(conn, id)?;
        let details = json!({
            "title": incident.title,
            "expires_at": incident.expires_at.map(crate::clock::rfc3339),
            "prompted": prompted,
            "note": note,
            "notify": notify,
            "emails_cancelled": cancelled,
        });
        audit(conn, actor, action, Some(id), details, now)?;
        Ok(Resolved::Now(Box::new(incident)))
    })
}

/// Resolves every active incident whose `expires_at` has passed, and rejects every activation
/// whose wait for approval ran out; returns how many.
pub fn expire_due(conn: &mut DbConn, now: NaiveDateTime) -> diesel::QueryResult<usize> {
    let mut expired = approval::expire_pending(conn, now)?;
    for id in db::incidents::due_to_expire(conn, now)? {
        if matches!(resolve(conn, &id, None, None, false, now)?, Resolved::Now(_)) {
            tracing::info!(incident = %id, "incident expired");
            expired += 1;
        }
    }
    Ok(expired)
}
