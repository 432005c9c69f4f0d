//! The notification outbox: enqueue (in the caller's transaction), claim due rows as leases,
//! record each attempt's outcome. Claiming differs per backend (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, one atomic UPDATE on single-writer SQLite).

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};

use super::DbConn;
use super::schema::notifications;
use crate::domain::email::canonical;
use crate::domain::{Lane, Locale, NotificationKind, NotificationState};

#[derive(Clone, Debug, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = notifications)]
// None is NULL, not DEFAULT: SQLite's multi-row INSERT has no DEFAULT keyword.
#[diesel(treat_none_as_default_value = false)]
pub struct NotificationRow {
    pub id: String,
    #[diesel(serialize_as = String)]
    pub kind: NotificationKind,
    pub recipient_email: String,
    pub recipient_name: Option<String>,
    #[diesel(serialize_as = String)]
    pub locale: Locale,
    pub incident_id: Option<String>,
    pub user_id: Option<String>,
    pub payload: String,
    #[diesel(serialize_as = String)]
    pub state: NotificationState,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub lease_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
    pub dedupe_key: String,
}

/// A message to queue.
#[derive(Clone, Debug)]
pub struct NewNotification {
    pub kind: NotificationKind,
    pub recipient_email: String,
    pub recipient_name: Option<String>,
    pub locale: Locale,
    pub incident_id: Option<String>,
    pub user_id: Option<String>,
    pub payload: String,
    /// At most one row ever holds a given key: a retried enqueue adds nothing.
    pub dedupe_key: String,
}

impl NewNotification {
    /// The outbox row for this message, in `state`, due at once.
    pub fn into_row(self, state: NotificationState, now: NaiveDateTime) -> NotificationRow {
        NotificationRow {
            id: uuid::Uuid::now_v7().to_string(),
            kind: self.kind,
            recipient_email: self.recipient_email,
            recipient_name: self.recipient_name,
            locale: self.locale,
            incident_id: self.incident_id,
            user_id: self.user_id,
            payload: self.payload,
            state,
            attempts: 0,
            next_attempt_at: now,
            lease_until: None,
            last_error: None,
            created_at: now,
            sent_at: None,
            dedupe_key: self.dedupe_key,
        }
    }
}

/// What became of a message at enqueue time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enqueued {
    Queued,
    /// The address unsubscribed: recorded, never sent.
    Suppressed,
    /// Over the recipient's hourly cap: recorded, never sent.
    Dropped,
    /// Its dedupe key was used before: nothing new.
    Duplicate,
}

/// Queues `new`, unless its dedupe key exists. Suppressed addresses and addresses over
/// `hourly_cap` messages this hour get a row in a final state instead, so stats show it.
pub fn enqueue(
    conn: &mut DbConn,
    new: NewNotification,
    hourly_cap: i64,
    now: NaiveDateTime,
) -> QueryResult<Enqueued> {
    Ok(enqueue_all(conn, vec![new], hourly_cap, now)?.pop().unwrap_or(Enqueued::Duplicate))
}

/// [`enqueue`] for several messages at once (one check-in's contacts): which recipients
/// unsubscribed (under any alias), the hourly cap's counters (per canonical address:
/// `db::recipient_hours`), and one multi-row insert. The outcomes are in the order of `news`.
///
/// A duplicate (its dedupe key used before) is found only by the insert, after its counter was
/// taken: a retried enqueue may spend one place of the hour that sends nothing. Retries are
/// rare (idempotency keys replay responses without enqueuing again); the cap errs on the side
/// of sending less.
pub fn enqueue_all(
    conn: &mut DbConn,
    news: Vec<NewNotification>,
    hourly_cap: i64,
    now: NaiveDateTime,
) -> QueryResult<Vec<Enqueued>> {
    if news.is_empty() {
        return Ok(Vec::new());
    }
    let emails: Vec<&str> = news.iter().map(|n| n.recipient_email.as_str()).collect();
    let suppressed = suppressed_among(conn, &emails)?;
    enqueue_all_knowing(conn, news, &suppressed, hourly_cap, now)
}

/// [`enqueue_all`] when the caller read already which recipients unsubscribed (`suppressed`,
/// their addresses as in `news`): one statement fewer.
pub fn enqueue_all_knowing(
    conn: &mut DbConn,
    news: Vec<NewNotification>,
    suppressed: &HashSet<String>,
    hourly_cap: i64,
    now: NaiveDateTime,
) -> QueryResult<Vec<Enqueued>> {
    let emails: Vec<&str> = news.iter().map(|n| n.recipient_email.as_str()).collect();
    let to_count: Vec<String> =
        emails.iter().filter(|e| !suppressed.contains(**e)).map(|e| canonical(e)).collect();
    let to_count: Vec<&str> = to_count.iter().map(String::as_str).collect();
    let mut counted = super::recipient_hours::take(conn, &to_count, now, hourly_cap)?.into_iter();
    let mut outcomes = Vec::with_capacity(news.len());
    let mut rows = Vec::with_capacity(news.len());
    for new in news {
        let (state, outcome) = if suppressed.contains(&new.recipient_email) {
            (NotificationState::Suppressed, Enqueued::Suppressed)
        } else if counted.next() != Some(true) {
            (NotificationState::Dropped, Enqueued::Dropped)
        } else {
            (NotificationState::Queued, Enqueued::Queued)
        };
        outcomes.push(outcome);
        rows.push(new.into_row(state, now));
    }
    let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
    let inserted = insert_new(conn, rows)?;
    Ok(ids
        .iter()
        .zip(outcomes)
        .map(|(id, outcome)| if inserted.contains(id) { outcome } else { Enqueued::Duplicate })
        .collect())
}

/// The addresses among `emails` that unsubscribed, under that spelling or any alias.
pub fn suppressed_among(conn: &mut DbConn, emails: &[&str]) -> QueryResult<HashSet<String>> {
    super::suppressions::among(conn, emails)
}

/// Inserts the rows whose dedupe key is new, 2,000 a statement; returns the ids inserted.
pub fn insert_new(conn: &mut DbConn, mut rows: Vec<NotificationRow>) -> QueryResult<HashSet<String>> {
    // 16 binds a row: 2,000 rows stay under SQLite's 32,766 and PostgreSQL's 65,535.
    const ROWS_PER_STATEMENT: usize = 2_000;
    let mut inserted = HashSet::with_capacity(rows.len());
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(ROWS_PER_STATEMENT));
        let query = diesel::insert_into(notifications::table)
            .values(rows)
            .on_conflict_do_nothing()
            .returning(notifications::id);
        // MultiConnection has no upsert: the same statement on the inner connection.
        let ids = match conn {
            DbConn::Postgresql(pg) => query.load::<String>(pg)?,
            DbConn::Sqlite(lite) => query.load::<String>(lite)?,
        };
        inserted.extend(ids);
        rows = rest;
    }
    Ok(inserted)
}

/// Takes up to `limit` due messages of `lanes` as `sending` until `lease_until`, counting the
/// attempt: first any whose lease ran out, then the due messages lane by lane, in the order
/// given, each lane oldest first. Concurrent workers never take the same row.
///
/// One statement per step, each walking a partial index in order and stopping after what is
/// left of `limit`: one query with the conditions OR-ed made PostgreSQL collect and sort every
/// due row for each batch (most of its CPU while delivering a backlog).
pub fn claim(
    conn: &mut DbConn,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
    lanes: &[Lane],
) -> QueryResult<Vec<NotificationRow>> {
    let (sending, queued, retrying) = (
        NotificationState::Sending.as_str(),
        NotificationState::Queued.as_str(),
        NotificationState::Retrying.as_str(),
    );
    let expired = format!("state = '{sending}' AND lease_until < $2");
    let kinds: Vec<NotificationKind> = lanes.iter().flat_map(|lane| lane.kinds().iter().copied()).collect();
    let mut rows = claim_where(conn, &expired, &kinds, "lease_until", now, lease_until, limit)?;
    for &lane in lanes {
        let left = limit - i64::try_from(rows.len()).unwrap_or(limit);
        if left <= 0 {
            break;
        }
        let due = format!("state IN ('{queued}', '{retrying}') AND next_attempt_at <= $2");
        rows.extend(claim_where(conn, &due, lane.kinds(), "next_attempt_at", now, lease_until, left)?);
    }
    Ok(rows)
}

/// One claiming UPDATE over the rows of `kinds` matching `condition` (`$2` is now), oldest
/// `order` first.
fn claim_where(
    conn: &mut DbConn,
    condition: &str,
    kinds: &[NotificationKind],
    order: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<NotificationRow>> {
    // One statement is atomic on SQLite, which has a single writer anyway; PostgreSQL's
    // concurrent claimers skip each other's rows.
    let lock = if matches!(conn, DbConn::Postgresql(_)) { " FOR UPDATE SKIP LOCKED" } else { "" };
    // Only rows this version can read: a kind or locale written by a newer version (during a
    // rolling upgrade) waits for a worker that knows it, instead of failing every batch.
    let kinds = one_of("kind", &kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>());
    let locales = one_of("locale", &Locale::ALL.map(Locale::as_str));
    let sql = super::native_placeholders(
        conn,
        &format!(
            "UPDATE notifications SET state = '{sending}', lease_until = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM notifications WHERE {condition} AND {kinds} AND {locales} \
             ORDER BY {order} LIMIT $3{lock}) \
             RETURNING *",
            sending = NotificationState::Sending.as_str(),
        ),
    );
    let query = diesel::sql_query(sql)
        .bind::<Timestamp, _>(lease_until)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit);
    match conn {
        DbConn::Postgresql(pg) => query.load(pg),
        DbConn::Sqlite(lite) => query.load(lite),
    }
}

/// `column = 'a'` or `column IN ('a', 'b')`, written as the lanes' partial indexes are (SQLite
/// uses a partial index only when the query repeats its terms).
fn one_of(column: &str, words: &[&str]) -> String {
    match words {
        [word] => format!("{column} = '{word}'"),
        _ => {
            format!("{column} IN ({})", words.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(", "))
        }
    }
}

/// The outcome of one delivery attempt.
#[derive(Clone, Debug)]
pub enum Outcome {
    Sent,
    /// Try again at this time.
    Retry {
        at: NaiveDateTime,
        error: String,
    },
    /// Given up (a permanent refusal, or too many attempts).
    Failed {
        error: String,
    },
    /// Unsubscribed since it was queued.
    Suppressed,
    /// Its incident ended before it went out ([`NotificationKind::cancelled_when`]).
    Cancelled,
}

/// Records outcomes of messages this worker still holds (state `sending` under the lease it
/// claimed them with), in one transaction. A row whose lease was taken over is left alone.
pub fn record(
    conn: &mut DbConn,
    outcomes: &[(String, Outcome)],
    held_lease: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    conn.transaction(|conn| {
        let none: Option<NaiveDateTime> = None;
        // Most outcomes are `Sent`: one statement for all of them.
        let sent: Vec<&str> =
            outcomes.iter().filter(|(_, o)| matches!(o, Outcome::Sent)).map(|(id, _)| id.as_str()).collect();
        for ids in sent.chunks(500) {
            diesel::update(
                notifications::table
                    .filter(notifications::id.eq_any(ids))
                    .filter(notifications::state.eq(NotificationState::Sending.as_str()))
                    .filter(notifications::lease_until.eq(held_lease)),
            )
            .set((
                notifications::state.eq(NotificationState::Sent.as_str()),
                notifications::sent_at.eq(now),
                notifications::lease_until.eq(none),
            ))
            .execute(conn)?;
        }
        for (id, outcome) in outcomes {
            let target = notifications::table
                .find(id)
                .filter(notifications::state.eq(NotificationState::Sending.as_str()))
                .filter(notifications::lease_until.eq(held_lease));
            match outcome {
                Outcome::Sent => 0,
                Outcome::Retry { at, error } => diesel::update(target)
                    .set((
                        notifications::state.eq(NotificationState::Retrying.as_str()),
                        notifications::next_attempt_at.eq(at),
                        notifications::last_error.eq(error),
                        notifications::lease_until.eq(none),
                    ))
                    .execute(conn)?,
                Outcome::Failed { error } => diesel::update(target)
                    .set((
                        notifications::state.eq(NotificationState::Failed.as_str()),
                        notifications::last_error.eq(error),
                        notifications::lease_until.eq(none),
                    ))
                    .execute(conn)?,
                Outcome::Suppressed | Outcome::Cancelled => {
                    let state = if matches!(outcome, Outcome::Suppressed) {
                        NotificationState::Suppressed
                    } else {
                        NotificationState::Cancelled
                    };
                    diesel::update(target)
                        .set((notifications::state.eq(state.as_str()), notifications::lease_until.eq(none)))
                        .execute(conn)?
                }
            };
        }
        Ok(())
    })
}

/// Messages by state: the incident's, or (`None`) all incidents' for metrics.
pub fn count_by_state(
    conn: &mut DbConn,
    incident_id: Option<&str>,
) -> QueryResult<Vec<(NotificationState, i64)>> {
    let mut query = notifications::table
        .group_by(notifications::state)
        .select((notifications::state, diesel::dsl::count_star()))
        .into_boxed();
    if let Some(incident_id) = incident_id {
        query = query.filter(notifications::incident_id.eq(incident_id));
    }
    Ok(known_states(query.load(conn)?))
}

/// The counts of the states this version knows. Rows in another state (written by a newer
/// version during a rolling upgrade) are left out of the figures and said in the log.
pub(super) fn known_states(counts: Vec<(String, i64)>) -> Vec<(NotificationState, i64)> {
    counts
        .into_iter()
        .filter_map(|(state, count)| match state.parse() {
            Ok(known) => Some((known, count)),
            Err(_) => {
                tracing::warn!(state, count, "outbox rows in a state this version does not know");
                None
            }
        })
        .collect()
}

/// When the longest-waiting message that is due became due: queued or to retry, or taken by a
/// worker whose lease has run out (it crashed, or hangs).
pub fn oldest_due(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<Option<NaiveDateTime>> {
    let waiting: Option<NaiveDateTime> = notifications::table
        .filter(
            notifications::state
                .eq_any([NotificationState::Queued.as_str(), NotificationState::Retrying.as_str()]),
        )
        .filter(notifications::next_attempt_at.le(now))
        .select(diesel::dsl::min(notifications::next_attempt_at))
        .first(conn)?;
    let stuck: Option<NaiveDateTime> = notifications::table
        .filter(notifications::state.eq(NotificationState::Sending.as_str()))
        .filter(notifications::lease_until.lt(now))
        .select(diesel::dsl::min(notifications::lease_until))
        .first(conn)?;
    Ok(waiting.into_iter().chain(stuck).min())
}

/// Deletes up to `batch` outbox rows that belong to no incident (invitations), are done with
/// (sent, failed, suppressed, dropped or cancelled) and were created before `cutoff`: they hold a contact's
/// address and the name of who listed them. How many went.
pub fn delete_done_without_incident_before(
    conn: &mut DbConn,
    cutoff: NaiveDateTime,
    batch: i64,
) -> QueryResult<usize> {
    let done = [
        NotificationState::Sent,
        NotificationState::Failed,
        NotificationState::Suppressed,
        NotificationState::Dropped,
        NotificationState::Cancelled,
    ]
    .map(|state| format!("'{}'", state.as_str()))
    .join(", ");
    let rows = format!("incident_id IS NULL AND state IN ({done}) AND created_at < $1");
    let sql = format!(
        "DELETE FROM notifications WHERE {rows} AND id IN (SELECT id FROM notifications WHERE {rows} LIMIT $2)"
    );
    diesel::sql_query(super::native_placeholders(conn, &sql))
        .bind::<Timestamp, _>(cutoff)
        .bind::<BigInt, _>(batch)
        .execute(conn)
}
