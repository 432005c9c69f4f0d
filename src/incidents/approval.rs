//! The two-person rule for large activations: an activation whose dry-run count exceeds
//! `SAFECHECK_APPROVAL_THRESHOLD` waits, prompting nobody, until another operator approves it,
//! or rejects it, or its wait (`SAFECHECK_APPROVAL_TIMEOUT_SECS`) runs out.

use chrono::NaiveDateTime;
use diesel::Connection;
use serde_json::json;

use super::{Actor, audit, fanout};
use crate::db::incidents::IncidentRow;
use crate::db::{self, DbConn};
use crate::domain::{Area, IncidentStatus};

/// An activation that waits for approval: until when, and how many the dry run counted.
#[derive(Clone, Copy, Debug)]
pub struct Pending {
    pub expires_at: NaiveDateTime,
    /// At most the threshold + 1: the count stops there.
    pub would_prompt: i64,
}

/// How many people inside the area the activation would prompt, counting no further than
/// `threshold + 1`; true in the second place when that is beyond the threshold. Reads at most
/// a chunk past the threshold, whatever the area holds.
pub fn count_beyond(
    conn: &mut DbConn,
    area: &Area,
    fresh_since: NaiveDateTime,
    chunk: i64,
    threshold: u64,
) -> diesel::QueryResult<(u64, bool)> {
    let count = fanout::count_inside_up_to(conn, area, fresh_since, chunk, threshold.saturating_add(1))?;
    Ok((count, count > threshold))
}

/// How an approval (or a rejection) went.
#[derive(Debug)]
pub enum Decided {
    Now(Box<IncidentRow>),
    /// The caller created it: the second operator must be someone else.
    OwnActivation,
    /// Its own `expires_at` passed while it waited: approving it would prompt for nothing.
    Ended,
    /// It does not wait for approval (any more): approved, rejected, or its wait ran out.
    NotPending(IncidentStatus),
    NotFound,
}

/// Approves a pending activation: it becomes active and the fan-out starts, reading locations
/// fresh since `fresh_since`. Audited as `incident.approve`.
pub fn approve(
    conn: &mut DbConn,
    id: &str,
    actor: &Actor,
    fresh_since: NaiveDateTime,
    now: NaiveDateTime,
) -> diesel::QueryResult<Decided> {
    expire_one_if_due(conn, id, now)?;
    conn.transaction(|conn| {
        if !db::incidents::approve(conn, id, &actor.id, fresh_since, now)? {
            return why_not(conn, id, actor, now);
        }
        let Some(row) = db::incidents::find(conn, id)? else { return Ok(Decided::NotFound) };
        let details = json!({ "title": row.title, "would_prompt_at_least": row.would_prompt });
        audit(conn, Some(actor), "incident.approve", Some(id), details, now)?;
        Ok(Decided::Now(Box::new(row)))
    })
}

/// Rejects a pending activation, with the reason: nobody is prompted. Audited as
/// `incident.reject`.
pub fn reject(
    conn: &mut DbConn,
    id: &str,
    actor: &Actor,
    reason: &str,
    now: NaiveDateTime,
) -> diesel::QueryResult<Decided> {
    expire_one_if_due(conn, id, now)?;
    conn.transaction(|conn| {
        let (from, to) = (IncidentStatus::PendingApproval, IncidentStatus::Rejected);
        // The creator may withdraw their own activation: only approving needs another person.
        if !db::incidents::end_from(conn, id, from, to, Some(&actor.id), "rejected", Some(reason), now)? {
            let row = db::incidents::find(conn, id)?;
            return Ok(row.map_or(Decided::NotFound, |row| Decided::NotPending(row.status)));
        }
        let Some(row) = db::incidents::find(conn, id)? else { return Ok(Decided::NotFound) };
        let details = json!({ "title": row.title, "reason": reason });
        audit(conn, Some(actor), "incident.reject", Some(id), details, now)?;
        Ok(Decided::Now(Box::new(row)))
    })
}

fn why_not(conn: &mut DbConn, id: &str, actor: &Actor, now: NaiveDateTime) -> diesel::QueryResult<Decided> {
    Ok(match db::incidents::find(conn, id)? {
        None => Decided::NotFound,
        Some(row) if row.status != IncidentStatus::PendingApproval => Decided::NotPending(row.status),
        Some(row) if row.created_by.as_deref() == Some(actor.id.as_str()) => Decided::OwnActivation,
        Some(row) if row.expires_at.is_some_and(|at| at <= now) => Decided::Ended,
        Some(row) => Decided::NotPending(row.status),
    })
}

/// Rejects, as `approval_expired`, every pending activation whose wait ran out; returns how
/// many. Audited as `incident.approval_expire` (by the system).
pub fn expire_pending(conn: &mut DbConn, now: NaiveDateTime) -> diesel::QueryResult<usize> {
    let mut expired = 0;
    for id in db::incidents::pending_due(conn, now)? {
        expired += usize::from(expire_one(conn, &id, now)?);
    }
    Ok(expired)
}

fn expire_one_if_due(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> diesel::QueryResult<()> {
    let due = db::incidents::find(conn, id)?.is_some_and(|row| {
        row.status == IncidentStatus::PendingApproval && row.approval_expires_at.is_some_and(|at| at <= now)
    });
    if due {
        expire_one(conn, id, now)?;
    }
    Ok(())
}

fn expire_one(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> diesel::QueryResult<bool> {
    conn.transaction(|conn| {
        let (from, to) = (IncidentStatus::PendingApproval, IncidentStatus::Rejected);
        if !db::incidents::end_from(conn, id, from, to, None, "approval_expired", None, now)? {
            return Ok(false);
        }
        audit(conn, None, "incident.approval_expire", Some(id), json!({}), now)?;
        tracing::info!(incident = %id, "activation not approved in time: rejected");
        Ok(true)
    })
}
