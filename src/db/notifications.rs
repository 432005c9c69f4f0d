//! The notification outbox: enqueue (in the caller's transaction), claim due rows as leases,
//! record each attempt's outcome. Claiming differs per backend (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, one atomic UPDATE on single-writer SQLite).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};

use super::DbConn;
use std::collections::HashSet;

use super::incidents::IncidentRow;
use super::schema::{notifications, suppressions, users};

#[derive(Clone, Debug, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = notifications)]
// None is NULL, not DEFAULT: SQLite's multi-row INSERT has no DEFAULT keyword.
#[diesel(treat_none_as_default_value = false)]
pub struct NotificationRow {
    pub id: String,
    pub kind: String,
    pub recipient_email: String,
    pub recipient_name: Option<String>,
    pub locale: String,
    pub incident_id: Option<String>,
    pub user_id: Option<String>,
    pub payload: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub lease_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
    pub dedupe_key: String,
}

/// A message to queue.
pub struct NewNotification {
    pub kind: &'static str,
    pub recipient_email: String,
    pub recipient_name: Option<String>,
    pub locale: String,
    pub incident_id: Option<String>,
    pub user_id: Option<String>,
    pub payload: String,
    pub dedupe_key: String,
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
/// `hourly_cap` messages in the last hour get a row in a final state instead, so stats show it.
pub fn enqueue(
    conn: &mut DbConn,
    new: NewNotification,
    hourly_cap: i64,
    now: NaiveDateTime,
) -> QueryResult<Enqueued> {
    Ok(enqueue_all(conn, vec![new], hourly_cap, now)?.pop().unwrap_or(Enqueued::Duplicate))
}

/// [`enqueue`] for several messages at once, in three statements whatever their number (one
/// check-in's contacts): which recipients unsubscribed, how many messages each had in the last
/// hour, and one multi-row insert. The outcomes are in the order of `news`.
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
    let suppressed: HashSet<String> = suppressions::table
        .filter(suppressions::email.eq_any(&emails))
        .select(suppressions::email)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    let mut recent: std::collections::HashMap<String, i64> = notifications::table
        .filter(notifications::recipient_email.eq_any(&emails))
        .filter(notifications::created_at.gt(now - chrono::Duration::hours(1)))
        .filter(notifications::state.ne_all(["suppressed", "dropped"]))
        .group_by(notifications::recipient_email)
        .select((notifications::recipient_email, diesel::dsl::count_star()))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    let mut outcomes = Vec::with_capacity(news.len());
    let rows: Vec<NotificationRow> = news
        .into_iter()
        .map(|new| {
            let count = recent.entry(new.recipient_email.clone()).or_insert(0);
            let (state, outcome) = if suppressed.contains(&new.recipient_email) {
                ("suppressed", Enqueued::Suppressed)
            } else if *count >= hourly_cap {
                ("dropped", Enqueued::Dropped)
            } else {
                *count += 1;
                ("queued", Enqueued::Queued)
            };
            outcomes.push(outcome);
            NotificationRow {
                id: uuid::Uuid::now_v7().to_string(),
                kind: new.kind.to_owned(),
                recipient_email: new.recipient_email,
                recipient_name: new.recipient_name,
                locale: new.locale,
                incident_id: new.incident_id,
                user_id: new.user_id,
                payload: new.payload,
                state: state.to_owned(),
                attempts: 0,
                next_attempt_at: now,
                lease_until: None,
                last_error: None,
                created_at: now,
                sent_at: None,
                dedupe_key: new.dedupe_key,
            }
        })
        .collect();
    let query = diesel::insert_into(notifications::table)
        .values(&rows)
        .on_conflict_do_nothing()
        .returning(notifications::id);
    // MultiConnection has no upsert: the same statement on the inner connection.
    let inserted: HashSet<String> = match conn {
        DbConn::Postgresql(c) => query.load::<String>(c)?,
        DbConn::Sqlite(c) => query.load::<String>(c)?,
    }
    .into_iter()
    .collect();
    Ok(rows
        .iter()
        .zip(outcomes)
        .map(|(row, outcome)| if inserted.contains(&row.id) { outcome } else { Enqueued::Duplicate })
        .collect())
}

/// Takes up to `limit` due messages (first any whose lease ran out) as `sending` until
/// `lease_until`, counting the attempt. Concurrent workers never take the same row.
///
/// Two statements, each walking a partial index in order and stopping after `limit` rows: one
/// query with both conditions OR-ed made PostgreSQL collect and sort every due row for each
/// batch (most of its CPU while delivering a backlog).
pub fn claim(
    conn: &mut DbConn,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<NotificationRow>> {
    let mut rows =
        claim_where(conn, "state = 'sending' AND lease_until < $2", "lease_until", now, lease_until, limit)?;
    let left = limit - i64::try_from(rows.len()).unwrap_or(limit);
    if left > 0 {
        rows.extend(claim_where(
            conn,
            "state IN ('queued', 'retrying') AND next_attempt_at <= $2",
            "next_attempt_at",
            now,
            lease_until,
            left,
        )?);
    }
    Ok(rows)
}

/// One claiming UPDATE over the rows matching `condition` (`$2` is now), oldest `order` first.
fn claim_where(
    conn: &mut DbConn,
    condition: &str,
    order: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<NotificationRow>> {
    // One statement is atomic on SQLite, which has a single writer anyway; PostgreSQL's
    // concurrent claimers skip each other's rows.
    let lock = if matches!(conn, DbConn::Postgresql(_)) { " FOR UPDATE SKIP LOCKED" } else { "" };
    let sql = super::native_placeholders(
        conn,
        &format!(
            "UPDATE notifications SET state = 'sending', lease_until = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM notifications WHERE {condition} ORDER BY {order} LIMIT $3{lock}) \
             RETURNING *"
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
}

/// Records outcomes of messages this worker still holds (state `sending` under the lease it
/// claimed them with), in one transaction. A row whose lease was taken over is left alone.
pub fn record(
    conn: &mut DbConn,
    outcomes: &[(String, Outcome)],
    held_lease: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<()> {
    conn.transaction(|conn| {
        let none: Option<NaiveDateTime> = None;
        // Most outcomes are `Sent`: one statement for all of them.
        let sent: Vec<&str> =
            outcomes.iter().filter(|(_, o)| matches!(o, Outcome::Sent)).map(|(id, _)| id.as_str()).collect();
        for ids in sent.chunks(500) {
            diesel::update(
                notifications::table
                    .filter(notifications::id.eq_any(ids))
                    .filter(notifications::state.eq("sending"))
                    .filter(notifications::lease_until.eq(held_lease)),
            )
            .set((
                notifications::state.eq("sent"),
                notifications::sent_at.eq(now),
                notifications::lease_until.eq(none),
            ))
            .execute(conn)?;
        }
        for (id, outcome) in outcomes {
            let target = notifications::table
                .find(id)
                .filter(notifications::state.eq("sending"))
                .filter(notifications::lease_until.eq(held_lease));
            match outcome {
                Outcome::Sent => 0,
                Outcome::Retry { at, error } => diesel::update(target)
                    .set((
                        notifications::state.eq("retrying"),
                        notifications::next_attempt_at.eq(at),
                        notifications::last_error.eq(error),
                        notifications::lease_until.eq(none),
                    ))
                    .execute(conn)?,
                Outcome::Failed { error } => diesel::update(target)
                    .set((
                        notifications::state.eq("failed"),
                        notifications::last_error.eq(error),
                        notifications::lease_until.eq(none),
                    ))
                    .execute(conn)?,
                Outcome::Suppressed => diesel::update(target)
                    .set((notifications::state.eq("suppressed"), notifications::lease_until.eq(none)))
                    .execute(conn)?,
            };
        }
        Ok(())
    })
}

/// Messages of the incident by state.
pub fn count_by_state(conn: &mut DbConn, incident_id: &str) -> QueryResult<Vec<(String, i64)>> {
    notifications::table
        .filter(notifications::incident_id.eq(incident_id))
        .group_by(notifications::state)
        .select((notifications::state, diesel::dsl::count_star()))
        .load(conn)
}

/// Which email a prompted user gets.
#[derive(Clone, Copy, Debug)]
pub enum PromptEmail {
    /// The first prompt: one per incident and user, ever.
    Prompt,
    /// A reminder to answer.
    Reminder,
}

/// The recipients of first prompts, each with the key that allows one per incident and user.
pub fn first_prompts(incident_id: &str, user_ids: &[String]) -> Vec<(String, String)> {
    user_ids.iter().map(|user_id| (user_id.clone(), format!("prompt:{incident_id}:{user_id}"))).collect()
}

/// Queues a prompt or reminder email to each `(user id, dedupe key)`; unsubscribed users get a
/// `suppressed` row. These go to the users themselves, so the per-recipient hourly cap (an
/// anti-relay limit on contacts) does not apply. Returns how many were queued to send.
pub fn enqueue_prompts(
    conn: &mut DbConn,
    incident: &IncidentRow,
    email: PromptEmail,
    recipients: &[(String, String)],
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let kind = match email {
        PromptEmail::Prompt => "prompt",
        PromptEmail::Reminder => "reminder",
    };
    let mut queued = 0;
    // Bounded lists keep every `IN (...)` under SQLite's bind limit.
    for batch in recipients.chunks(5_000) {
        let ids: Vec<&str> = batch.iter().map(|(id, _)| id.as_str()).collect();
        let dedupe: std::collections::HashMap<&str, &str> =
            batch.iter().map(|(id, key)| (id.as_str(), key.as_str())).collect();
        let users: Vec<(String, String, String, String)> = users::table
            .filter(users::id.eq_any(ids))
            .select((users::id, users::email, users::display_name, users::locale))
            .load(conn)?;
        let emails: Vec<&str> = users.iter().map(|r| r.1.as_str()).collect();
        let suppressed: HashSet<String> = suppressions::table
            .filter(suppressions::email.eq_any(emails))
            .select(suppressions::email)
            .load(conn)?
            .into_iter()
            .collect();
        let rows: Vec<NotificationRow> = users
            .into_iter()
            .map(|(user_id, email, name, locale)| {
                let payload = serde_json::json!({
                    "user_name": name,
                    "incident_title": incident.title,
                    "incident_description": incident.description,
                    "activated_at": crate::clock::rfc3339(incident.created_at),
                });
                NotificationRow {
                    id: uuid::Uuid::now_v7().to_string(),
                    kind: kind.to_owned(),
                    state: if suppressed.contains(&email) { "suppressed" } else { "queued" }.to_owned(),
                    recipient_email: email,
                    recipient_name: Some(name),
                    locale,
                    incident_id: Some(incident.id.clone()),
                    dedupe_key: dedupe.get(user_id.as_str()).copied().unwrap_or_default().to_owned(),
                    user_id: Some(user_id),
                    payload: payload.to_string(),
                    attempts: 0,
                    next_attempt_at: now,
                    lease_until: None,
                    last_error: None,
                    created_at: now,
                    sent_at: None,
                }
            })
            .collect();
        queued += rows.iter().filter(|r| r.state == "queued").count();
        match conn {
            // 16 columns a row: 2,000 rows stay under PostgreSQL's 65,535 parameters.
            DbConn::Postgresql(pg) => {
                for chunk in rows.chunks(2_000) {
                    diesel::insert_into(notifications::table)
                        .values(chunk)
                        .on_conflict_do_nothing()
                        .execute(pg)?;
                }
            }
            // 16 binds a row: 2,000 rows stay under SQLite's 32,766.
            DbConn::Sqlite(lite) => {
                for chunk in rows.chunks(2_000) {
                    diesel::insert_into(notifications::table)
                        .values(chunk)
                        .on_conflict_do_nothing()
                        .execute(lite)?;
                }
            }
        }
    }
    Ok(queued)
}

/// Messages of all incidents by state, for metrics.
pub fn count_all_by_state(conn: &mut DbConn) -> QueryResult<Vec<(String, i64)>> {
    notifications::table
        .group_by(notifications::state)
        .select((notifications::state, diesel::dsl::count_star()))
        .load(conn)
}

/// When the longest-waiting message that is due became due: queued or to retry, or taken by a
/// worker whose lease has run out (it crashed, or hangs).
pub fn oldest_due(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<Option<NaiveDateTime>> {
    let waiting: Option<NaiveDateTime> = notifications::table
        .filter(notifications::state.eq_any(["queued", "retrying"]))
        .filter(notifications::next_attempt_at.le(now))
        .select(diesel::dsl::min(notifications::next_attempt_at))
        .first(conn)?;
    let stuck: Option<NaiveDateTime> = notifications::table
        .filter(notifications::state.eq("sending"))
        .filter(notifications::lease_until.lt(now))
        .select(diesel::dsl::min(notifications::lease_until))
        .first(conn)?;
    Ok(waiting.into_iter().chain(stuck).min())
}
