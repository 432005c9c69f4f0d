//! Notices (official updates, all clear, retraction): stored, listed, and the walk that queues
//! their emails a chunk at a time under a lease, as the fan-out does; and whom a walk reads.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::incidents::Position;
use super::schema::{incident_notices, notifications, prompts};
use crate::domain::{NoticeKind, NotificationKind, NotificationState};

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = incident_notices)]
pub struct NoticeRow {
    pub id: String,
    pub incident_id: String,
    #[diesel(serialize_as = String)]
    pub kind: NoticeKind,
    pub text: String,
    pub urgent: bool,
    pub emailed: bool,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub walk_cursor: Option<String>,
    pub walk_done: bool,
    pub walk_lease_until: Option<NaiveDateTime>,
    pub walk_queued: i64,
}

pub fn insert(conn: &mut DbConn, row: &NoticeRow) -> QueryResult<()> {
    diesel::insert_into(incident_notices::table).values(row.clone()).execute(conn).map(|_| ())
}

/// When the incident's latest emailed official update was posted.
pub fn last_emailed_update_at(conn: &mut DbConn, incident_id: &str) -> QueryResult<Option<NaiveDateTime>> {
    incident_notices::table
        .filter(incident_notices::incident_id.eq(incident_id))
        .filter(incident_notices::kind.eq(NoticeKind::Update.as_str()))
        .filter(incident_notices::emailed.eq(true))
        .select(diesel::dsl::max(incident_notices::created_at))
        .first(conn)
}

/// The incident's notices, newest first; `kinds` filters; `after` continues a previous page.
pub fn page(
    conn: &mut DbConn,
    incident_id: &str,
    kinds: &[NoticeKind],
    after: Option<&Position>,
    limit: i64,
) -> QueryResult<Vec<NoticeRow>> {
    let mut query = incident_notices::table
        .filter(incident_notices::incident_id.eq(incident_id.to_owned()))
        .filter(incident_notices::kind.eq_any(kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>()))
        .select(NoticeRow::as_select())
        .into_boxed();
    if let Some((at, id)) = after {
        query = query.filter(
            incident_notices::created_at
                .lt(*at)
                .or(incident_notices::created_at.eq(*at).and(incident_notices::id.lt(id.clone()))),
        );
    }
    query.order((incident_notices::created_at.desc(), incident_notices::id.desc())).limit(limit).load(conn)
}

/// Takes the walk of one notice whose emails are not all queued, for `lease` (no other worker
/// holds it), oldest first.
pub fn claim_walk(
    conn: &mut DbConn,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
) -> QueryResult<Option<NoticeRow>> {
    let free = || incident_notices::walk_lease_until.is_null().or(incident_notices::walk_lease_until.lt(now));
    let candidates: Vec<String> = incident_notices::table
        .filter(incident_notices::walk_done.eq(false))
        .filter(free())
        .order(incident_notices::created_at.asc())
        .select(incident_notices::id)
        .limit(5)
        .load(conn)?;
    for id in candidates {
        // The conditional update is the claim: only one worker's succeeds.
        let claimed = diesel::update(incident_notices::table.find(&id).filter(free()))
            .set(incident_notices::walk_lease_until.eq(lease_until))
            .execute(conn)?;
        if claimed == 1 {
            return incident_notices::table.find(&id).select(NoticeRow::as_select()).first(conn).optional();
        }
    }
    Ok(None)
}

/// In a chunk's transaction, its first statement: takes the notice row's write lock, if the
/// caller's lease `held` is still the one stored. False otherwise.
pub fn hold_walk(conn: &mut DbConn, id: &str, held: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(incident_notices::table.find(id).filter(incident_notices::walk_lease_until.eq(held)))
        .set(incident_notices::walk_lease_until.eq(held))
        .execute(conn)
        .map(|n| n == 1)
}

/// Records a chunk of the walk, if the caller's lease `held` is still the one stored: the
/// cursor moves, the count grows, the lease becomes `lease_until` (none: free for the next
/// chunk; a near time: a pause before it). In the
/// chunk's transaction, this write is also what makes a worker whose lease was taken over
/// roll its chunk back. False when the lease is no longer the caller's.
pub fn advance_walk(
    conn: &mut DbConn,
    id: &str,
    held: NaiveDateTime,
    cursor: Option<&str>,
    queued: i64,
    done: bool,
    lease_until: Option<NaiveDateTime>,
) -> QueryResult<bool> {
    diesel::update(incident_notices::table.find(id).filter(incident_notices::walk_lease_until.eq(held)))
        .set((
            incident_notices::walk_cursor.eq(cursor),
            incident_notices::walk_queued.eq(incident_notices::walk_queued + queued),
            incident_notices::walk_done.eq(done),
            incident_notices::walk_lease_until.eq(lease_until),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

/// Up to `limit` users prompted for the incident, after `after` in id order. `only_told`: only
/// those who were sent its prompt email or answered (those sent only a reminder or an update
/// are found by [`sent_after`]).
pub fn prompted_after(
    conn: &mut DbConn,
    incident_id: &str,
    after: &str,
    only_told: bool,
    limit: i64,
) -> QueryResult<Vec<String>> {
    let mut query = prompts::table
        .filter(prompts::incident_id.eq(incident_id.to_owned()))
        .filter(prompts::user_id.gt(after.to_owned()))
        .select(prompts::user_id)
        .into_boxed();
    if only_told {
        query = query.filter(
            prompts::email_state
                .eq(NotificationState::Sent.as_str())
                .or(prompts::closed_reason.eq(super::prompts::CLOSED_ANSWERED)),
        );
    }
    query.order(prompts::user_id.asc()).limit(limit).load(conn)
}

/// An email about the incident that went out: its id, address, language, person (for the
/// emails to the people prompted) and payload.
pub type SentEmail = (String, String, String, Option<String>, String);

/// Up to `limit` of the incident's emails of `kinds` that were sent, after the id `after`, in id
/// order (the walk of the incident's index `(incident_id, state, id)`).
pub fn sent_after(
    conn: &mut DbConn,
    incident_id: &str,
    kinds: &[NotificationKind],
    after: &str,
    limit: i64,
) -> QueryResult<Vec<SentEmail>> {
    notifications::table
        .filter(notifications::incident_id.eq(incident_id))
        .filter(notifications::state.eq(NotificationState::Sent.as_str()))
        .filter(notifications::id.gt(after))
        .filter(notifications::kind.eq_any(kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>()))
        .order(notifications::id.asc())
        .select((
            notifications::id,
            notifications::recipient_email,
            notifications::locale,
            notifications::user_id,
            notifications::payload,
        ))
        .limit(limit)
        .load(conn)
}

/// Ends the walks of the incident's official updates not fully queued yet (the incident was
/// retracted: what they would queue is cancelled anyway).
pub fn stop_update_walks(conn: &mut DbConn, incident_id: &str) -> QueryResult<usize> {
    diesel::update(
        incident_notices::table
            .filter(incident_notices::incident_id.eq(incident_id))
            .filter(incident_notices::kind.eq(NoticeKind::Update.as_str()))
            .filter(incident_notices::walk_done.eq(false)),
    )
    .set((incident_notices::walk_done.eq(true), incident_notices::walk_lease_until.eq(None::<NaiveDateTime>)))
    .execute(conn)
}

/// Whether any of the incident's prompt emails, reminders, official updates or contacts'
/// check-in emails is being sent now (claimed under a lease): a notice only to those who heard
/// of the incident waits for them to settle, so that someone told at the last moment is not
/// left out.
pub fn any_in_flight(conn: &mut DbConn, incident_id: &str) -> QueryResult<bool> {
    let sending = NotificationState::Sending.as_str();
    let prompt: Option<String> = prompts::table
        .filter(prompts::incident_id.eq(incident_id))
        .filter(prompts::email_state.eq(sending))
        .select(prompts::user_id)
        .first(conn)
        .optional()?;
    if prompt.is_some() {
        return Ok(true);
    }
    let outbox: Option<String> = notifications::table
        .filter(notifications::incident_id.eq(incident_id))
        .filter(notifications::state.eq(sending))
        .filter(
            notifications::kind
                .eq_any([NotificationKind::CheckIn.as_str(), NotificationKind::Reminder.as_str()]),
        )
        .select(notifications::id)
        .first(conn)
        .optional()?;
    Ok(outbox.is_some())
}

/// Cancels the incident's emails not sent yet whose kind `cancelled_by` says so (prompt
/// emails carried by prompts count as [`NotificationKind::Prompt`]). Sending ones are in
/// flight: delivery cancels them if their lease runs out. Returns how many.
pub fn cancel_unsent(
    conn: &mut DbConn,
    incident_id: &str,
    cancelled: impl Fn(NotificationKind) -> bool,
) -> QueryResult<usize> {
    let waiting = [NotificationState::Queued.as_str(), NotificationState::Retrying.as_str()];
    let cancelled_state = NotificationState::Cancelled.as_str();
    let mut count = 0;
    if cancelled(NotificationKind::Prompt) {
        count += diesel::update(
            prompts::table
                .filter(prompts::incident_id.eq(incident_id))
                .filter(prompts::email_state.eq_any(waiting)),
        )
        .set(prompts::email_state.eq(cancelled_state))
        .execute(conn)?;
    }
    let kinds: Vec<&str> =
        NotificationKind::ALL.into_iter().filter(|&k| cancelled(k)).map(NotificationKind::as_str).collect();
    count += diesel::update(
        notifications::table
            .filter(notifications::incident_id.eq(incident_id))
            .filter(notifications::state.eq_any(waiting))
            .filter(notifications::kind.eq_any(kinds)),
    )
    .set(notifications::state.eq(cancelled_state))
    .execute(conn)?;
    Ok(count)
}

/// Every email about a drill (the outbox's rows and prompts' own) by state, for the metrics,
/// which leave drills out of the real incidents' figures. Reads only the drills' rows.
pub fn drill_emails_by_state(conn: &mut DbConn) -> QueryResult<Vec<(NotificationState, i64)>> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::Text)]
        state: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let sql = "SELECT n.state AS state, COUNT(*) AS n FROM incidents i JOIN notifications n ON n.incident_id = i.id \
         WHERE i.exercise = $1 GROUP BY n.state \
         UNION ALL SELECT p.email_state AS state, COUNT(*) AS n FROM incidents i JOIN prompts p ON p.incident_id = i.id \
         WHERE i.exercise = $1 AND p.email_state IS NOT NULL GROUP BY p.email_state";
    let counts: Vec<Count> = diesel::sql_query(super::native_placeholders(conn, sql))
        .bind::<diesel::sql_types::Bool, _>(true)
        .load(conn)?;
    Ok(super::notifications::known_states(counts.into_iter().map(|c| (c.state, c.n)).collect()))
}
