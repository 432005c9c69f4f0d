//! What operators tell the people of an incident after the prompt: official updates (emailed
//! at most once in 5 minutes unless urgent), and the retraction of an alert sent in error. The
//! all clear is a resolution's notice ([`super::resolve`]). Each notice's emails are queued by
//! [`walk_next`], a chunk at a time.

use chrono::{Duration, NaiveDateTime};
use diesel::Connection;
use serde_json::json;

use super::{Actor, audit};
use crate::db::incidents::IncidentRow;
use crate::db::notices::NoticeRow;
use crate::db::{self, DbConn};
use crate::domain::{IncidentStatus, NoticeKind, NoticeText};

/// Official updates are emailed at most once in this time per incident, unless urgent.
pub const UPDATE_EMAIL_INTERVAL: Duration = Duration::minutes(5);

/// A notice to store, before its walk.
pub fn new_notice(
    incident_id: &str,
    kind: NoticeKind,
    text: Option<&str>,
    urgent: bool,
    emailed: bool,
    by: Option<&Actor>,
    now: NaiveDateTime,
) -> NoticeRow {
    NoticeRow {
        id: uuid::Uuid::now_v7().to_string(),
        incident_id: incident_id.to_owned(),
        kind,
        text: text.unwrap_or_default().to_owned(),
        urgent,
        emailed,
        created_by: by.map(|a| a.id.clone()),
        created_at: now,
        walk_cursor: None,
        // A notice that is not emailed has nothing to walk.
        walk_done: !emailed,
        walk_lease_until: None,
        walk_queued: 0,
    }
}

/// How posting a notice went.
#[derive(Debug)]
pub enum Posted {
    Now(Box<NoticeRow>),
    /// The incident is resolved or retracted: nothing is stored.
    Ended,
    NotFound,
}

/// Stores an official update of an active incident and its audit record; it is emailed to
/// everyone prompted unless another was emailed in the last [`UPDATE_EMAIL_INTERVAL`] and this
/// one is not `urgent`. The incident's row lock orders concurrent updates, so two posted at
/// once are not both emailed. `then` runs in the same transaction once it is stored (to keep
/// the response for an idempotent retry).
pub fn post_update(
    conn: &mut DbConn,
    incident_id: &str,
    text: &NoticeText,
    urgent: bool,
    actor: &Actor,
    now: NaiveDateTime,
    then: impl Fn(&mut DbConn, &NoticeRow) -> diesel::QueryResult<()>,
) -> diesel::QueryResult<Posted> {
    conn.transaction(|conn| {
        if !db::incidents::lock_if_active(conn, incident_id)? {
            let exists = db::incidents::find(conn, incident_id)?.is_some();
            return Ok(if exists { Posted::Ended } else { Posted::NotFound });
        }
        let last = db::notices::last_emailed_update_at(conn, incident_id)?;
        let emailed = urgent || last.is_none_or(|at| now - at >= UPDATE_EMAIL_INTERVAL);
        let row = new_notice(
            incident_id,
            NoticeKind::Update,
            Some(text.as_str()),
            urgent,
            emailed,
            Some(actor),
            now,
        );
        db::notices::insert(conn, &row)?;
        let details = json!({ "notice": row.id, "text": row.text, "urgent": urgent, "emailed": emailed });
        audit(conn, Some(actor), "incident.update", Some(incident_id), details, now)?;
        then(conn, &row)?;
        Ok(Posted::Now(Box::new(row)))
    })
}

/// How a retraction went.
#[derive(Debug)]
pub enum Retracted {
    /// Retracted by this call: the incident as it now is, and how many unsent emails were
    /// cancelled.
    Now(Box<IncidentRow>, usize),
    /// It had ended already (resolved, expired or retracted).
    Ended,
    NotFound,
}

/// Ends an incident sent in error, in one transaction: status `retracted`, open prompts closed,
/// every email about it not sent yet cancelled (and the walks of its updates stopped), and a
/// retraction notice whose walk emails everyone who heard of it (was sent an email about it,
/// or answered) and every contact sent a check-in email about it. Nobody who heard nothing
/// hears of it.
pub fn retract(
    conn: &mut DbConn,
    incident_id: &str,
    reason: &NoticeText,
    actor: &Actor,
    now: NaiveDateTime,
) -> diesel::QueryResult<Retracted> {
    conn.transaction(|conn| {
        let status = IncidentStatus::Retracted;
        // The conditional update comes first: it is the write lock (SQLite) and the decision.
        if !db::incidents::end(
            conn,
            incident_id,
            status,
            Some(&actor.id),
            "retracted",
            Some(reason.as_str()),
            now,
        )? {
            let exists = db::incidents::find(conn, incident_id)?.is_some();
            return Ok(if exists { Retracted::Ended } else { Retracted::NotFound });
        }
        let cancelled = db::notices::cancel_unsent(conn, incident_id, |kind| kind.cancelled_when(status))?;
        db::notices::stop_update_walks(conn, incident_id)?;
        let notice = new_notice(
            incident_id,
            NoticeKind::Retraction,
            Some(reason.as_str()),
            true,
            true,
            Some(actor),
            now,
        );
        db::notices::insert(conn, &notice)?;
        let Some(incident) = db::incidents::find(conn, incident_id)? else { return Ok(Retracted::NotFound) };
        let details = json!({
            "title": incident.title,
            "reason": reason.as_str(),
            "prompted": db::prompts::count(conn, incident_id)?,
            "emails_cancelled": cancelled,
        });
        audit(conn, Some(actor), "incident.retract", Some(incident_id), details, now)?;
        Ok(Retracted::Now(Box::new(incident), cancelled))
    })
}
