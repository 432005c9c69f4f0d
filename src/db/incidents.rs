//! Incidents: create, read, page, resolve, expire, and the fan-out's progress.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::schema::{incidents, prompts};
use crate::domain::IncidentStatus;

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = incidents)]
pub struct IncidentRow {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub area: String,
    #[diesel(serialize_as = String)]
    pub status: IncidentStatus,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub resolved_at: Option<NaiveDateTime>,
    pub resolved_by: Option<String>,
    pub resolution: Option<String>,
    pub location_cutoff: NaiveDateTime,
    pub fanout_cursor: Option<String>,
    pub fanout_done: bool,
    pub fanout_prompts: i64,
    pub fanout_lease_until: Option<NaiveDateTime>,
    /// A drill: everything about it says EXERCISE.
    pub exercise: bool,
    /// Whether its people's contacts are emailed their answers (a drill's only when asked).
    pub notify_contacts: bool,
    /// While it waits for a second operator: when the wait ends.
    pub approval_expires_at: Option<NaiveDateTime>,
    pub approved_by: Option<String>,
    pub approved_at: Option<NaiveDateTime>,
    /// The dry run's count when it was created (at most the approval threshold + 1).
    pub would_prompt: Option<i64>,
}

pub fn insert(conn: &mut DbConn, row: &IncidentRow) -> QueryResult<()> {
    diesel::insert_into(incidents::table).values(row.clone()).execute(conn).map(|_| ())
}

pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<IncidentRow>> {
    incidents::table.find(id).select(IncidentRow::as_select()).first(conn).optional()
}

/// A page position: the `(created_at, id)` of the last row seen.
pub type Position = (NaiveDateTime, String);

/// Newest first, drills (`exercise`) or real incidents; `status` filters; `after` continues a
/// previous page.
pub fn page(
    conn: &mut DbConn,
    status: Option<IncidentStatus>,
    exercise: bool,
    after: Option<&Position>,
    limit: i64,
) -> QueryResult<Vec<IncidentRow>> {
    let mut query = incidents::table
        .filter(incidents::exercise.eq(exercise))
        .select(IncidentRow::as_select())
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(incidents::status.eq(status.as_str()));
    }
    if let Some((at, id)) = after {
        query = query.filter(
            incidents::created_at.lt(*at).or(incidents::created_at.eq(*at).and(incidents::id.lt(id.clone()))),
        );
    }
    query.order((incidents::created_at.desc(), incidents::id.desc())).limit(limit).load(conn)
}

/// Active incidents the user was prompted for, newest first (what a user may list).
pub fn page_prompted(
    conn: &mut DbConn,
    user_id: &str,
    after: Option<&Position>,
    limit: i64,
) -> QueryResult<Vec<IncidentRow>> {
    let mut query = incidents::table
        .inner_join(prompts::table)
        .filter(prompts::user_id.eq(user_id.to_owned()))
        .filter(incidents::status.eq(IncidentStatus::Active.as_str()))
        .select(IncidentRow::as_select())
        .into_boxed();
    if let Some((at, id)) = after {
        query = query.filter(
            incidents::created_at.lt(*at).or(incidents::created_at.eq(*at).and(incidents::id.lt(id.clone()))),
        );
    }
    query.order((incidents::created_at.desc(), incidents::id.desc())).limit(limit).load(conn)
}

/// Every active incident (a handful at any time), for the late-arrival cache.
pub fn active(conn: &mut DbConn) -> QueryResult<Vec<IncidentRow>> {
    incidents::table
        .filter(incidents::status.eq(IncidentStatus::Active.as_str()))
        .select(IncidentRow::as_select())
        .load(conn)
}

/// Ends the incident (`status`: resolved or retracted; `resolution` says how: resolved,
/// expired, retracted) and closes its open prompts with the status as their reason, in one
/// transaction. Returns false when it was not active
/// (already resolved, expired or retracted).
pub fn end(
    conn: &mut DbConn,
    id: &str,
    status: IncidentStatus,
    by: Option<&str>,
    resolution: &str,
    note: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    end_from(conn, id, IncidentStatus::Active, status, by, resolution, note, now)
}

/// [`end`] for an incident that stands at `from` (active, or pending approval).
#[expect(
    clippy::too_many_arguments,
    reason = "each is one column of the ending; a struct would only rename them"
)]
pub fn end_from(
    conn: &mut DbConn,
    id: &str,
    from: IncidentStatus,
    status: IncidentStatus,
    by: Option<&str>,
    resolution: &str,
    note: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    use super::schema::incident_notes;
    conn.transaction(|conn| {
        let changed = diesel::update(incidents::table.find(id).filter(incidents::status.eq(from.as_str())))
            .set((
                incidents::status.eq(status.as_str()),
                incidents::resolved_at.eq(now),
                incidents::resolved_by.eq(by),
                incidents::resolution.eq(resolution),
            ))
            .execute(conn)?;
        if changed == 0 {
            return Ok(false);
        }
        diesel::update(
            prompts::table.filter(prompts::incident_id.eq(id)).filter(prompts::closed_at.is_null()),
        )
        .set((prompts::closed_at.eq(now), prompts::closed_reason.eq(status.as_str())))
        .execute(conn)?;
        if let Some(note) = note {
            diesel::insert_into(incident_notes::table)
                .values((
                    incident_notes::incident_id.eq(id),
                    incident_notes::note.eq(note),
                    incident_notes::created_at.eq(now),
                ))
                .execute(conn)?;
        }
        Ok(true)
    })
}

/// Ids of active incidents whose `expires_at` has passed.
pub fn due_to_expire(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<Vec<String>> {
    incidents::table
        .filter(incidents::status.eq(IncidentStatus::Active.as_str()))
        .filter(incidents::expires_at.le(now))
        .select(incidents::id)
        .load(conn)
}

/// The oldest location cutoff of an active incident whose fan-out is not finished: locations
/// recorded since then may still be read by it.
pub fn oldest_unfinished_fanout_cutoff(conn: &mut DbConn) -> QueryResult<Option<NaiveDateTime>> {
    incidents::table
        .filter(incidents::status.eq(IncidentStatus::Active.as_str()))
        .filter(incidents::fanout_done.eq(false))
        .select(diesel::dsl::min(incidents::location_cutoff))
        .first(conn)
}

/// Takes the fan-out of one unfinished active incident for `lease` (no other worker holds it).
pub fn claim_fanout(
    conn: &mut DbConn,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
) -> QueryResult<Option<IncidentRow>> {
    let candidates: Vec<String> = incidents::table
        .filter(incidents::status.eq(IncidentStatus::Active.as_str()))
        .filter(incidents::fanout_done.eq(false))
        .filter(incidents::fanout_lease_until.is_null().or(incidents::fanout_lease_until.lt(now)))
        .order(incidents::created_at.asc())
        .select(incidents::id)
        .limit(5)
        .load(conn)?;
    for id in candidates {
        // The conditional update is the claim: only one worker's succeeds.
        let claimed = diesel::update(
            incidents::table
                .find(&id)
                .filter(incidents::fanout_lease_until.is_null().or(incidents::fanout_lease_until.lt(now))),
        )
        .set(incidents::fanout_lease_until.eq(lease_until))
        .execute(conn)?;
        if claimed == 1 {
            return find(conn, &id);
        }
    }
    Ok(None)
}

/// Inside a transaction: takes the incident row's write lock if it is still active, so a
/// concurrent resolve waits for (or is waited on by) the caller. False when not active.
pub fn lock_if_active(conn: &mut DbConn, id: &str) -> QueryResult<bool> {
    diesel::update(incidents::table.find(id).filter(incidents::status.eq(IncidentStatus::Active.as_str())))
        .set(incidents::fanout_done.eq(incidents::fanout_done))
        .execute(conn)
        .map(|n| n > 0)
}

/// As [`lock_if_active`], and only while the caller's fan-out lease is still the one stored.
pub fn lock_if_held(conn: &mut DbConn, id: &str, held: NaiveDateTime) -> QueryResult<bool> {
    // Renewing the lease to the time it already holds is the write that takes the lock.
    renew_fanout_lease(conn, id, held, held)
}

/// Extends the caller's fan-out lease from `held` to `until`, if it is still theirs and the
/// incident still active. False otherwise.
pub fn renew_fanout_lease(
    conn: &mut DbConn,
    id: &str,
    held: NaiveDateTime,
    until: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        incidents::table
            .find(id)
            .filter(incidents::status.eq(IncidentStatus::Active.as_str()))
            .filter(incidents::fanout_lease_until.eq(held)),
    )
    .set(incidents::fanout_lease_until.eq(until))
    .execute(conn)
    .map(|n| n > 0)
}

/// Records a chunk of the fan-out: the cursor moves, the count grows, the lease is renewed (or
/// released when done).
pub fn advance_fanout(
    conn: &mut DbConn,
    id: &str,
    cursor: Option<&str>,
    inserted: i64,
    done: bool,
    lease_until: Option<NaiveDateTime>,
) -> QueryResult<()> {
    diesel::update(incidents::table.find(id))
        .set((
            incidents::fanout_cursor.eq(cursor),
            incidents::fanout_prompts.eq(incidents::fanout_prompts + inserted),
            incidents::fanout_done.eq(done),
            incidents::fanout_lease_until.eq(lease_until),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Ends the fan-out of an incident that was resolved while it ran.
pub fn stop_fanout(conn: &mut DbConn, id: &str) -> QueryResult<()> {
    diesel::update(incidents::table.find(id))
        .set((incidents::fanout_done.eq(true), incidents::fanout_lease_until.eq(None::<NaiveDateTime>)))
        .execute(conn)
        .map(|_| ())
}

/// The resolution notes of these incidents, by incident id.
pub fn notes(conn: &mut DbConn, ids: &[&str]) -> QueryResult<std::collections::HashMap<String, String>> {
    use super::schema::incident_notes;
    let rows: Vec<(String, String)> = incident_notes::table
        .filter(incident_notes::incident_id.eq_any(ids))
        .select((incident_notes::incident_id, incident_notes::note))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// The status of each of these incidents that exists, by id.
pub fn statuses(
    conn: &mut DbConn,
    ids: &[&str],
) -> QueryResult<std::collections::HashMap<String, IncidentStatus>> {
    let rows: Vec<(String, IncidentStatus)> = incidents::table
        .filter(incidents::id.eq_any(ids))
        .select((incidents::id, incidents::status))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Makes a pending incident active, approved by `by` (never its creator), if it still waits,
/// its wait has not run out and its own expiry has not passed; the fan-out then reads locations fresh since `fresh_since`.
/// False otherwise.
pub fn approve(
    conn: &mut DbConn,
    id: &str,
    by: &str,
    fresh_since: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        incidents::table
            .find(id)
            .filter(incidents::status.eq(IncidentStatus::PendingApproval.as_str()))
            .filter(incidents::approval_expires_at.gt(now))
            .filter(incidents::expires_at.is_null().or(incidents::expires_at.gt(now)))
            // An erased creator leaves NULL, which `<>` never passes.
            .filter(incidents::created_by.is_null().or(incidents::created_by.ne(by))),
    )
    .set((
        incidents::status.eq(IncidentStatus::Active.as_str()),
        incidents::approved_by.eq(by),
        incidents::approved_at.eq(now),
        incidents::location_cutoff.eq(fresh_since),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

/// Ids of pending incidents whose wait for approval has run out.
pub fn pending_due(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<Vec<String>> {
    incidents::table
        .filter(incidents::status.eq(IncidentStatus::PendingApproval.as_str()))
        .filter(incidents::approval_expires_at.le(now))
        .select(incidents::id)
        .load(conn)
}
