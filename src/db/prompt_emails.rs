//! Prompt emails, carried by their prompts (`prompts.email_*`): claimed as leases, recorded and
//! counted as the outbox's rows are (`db::notifications`), with one row per prompted person
//! instead of a prompt and an outbox row. Claiming differs per backend as the outbox's does.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamp};

use super::DbConn;
use super::notifications::{Outcome, known_states};
use super::schema::prompts;
use crate::domain::NotificationState;

/// A prompt email a worker claimed: whose prompt, and how many attempts this one makes.
#[derive(Clone, Debug, QueryableByName)]
pub struct ClaimedPromptEmail {
    #[diesel(sql_type = Text)]
    pub incident_id: String,
    #[diesel(sql_type = Text)]
    pub user_id: String,
    #[diesel(sql_type = Integer)]
    pub email_attempts: i32,
}

/// Which prompt an outcome is for: (incident id, user id).
pub type PromptKey = (String, String);

/// Takes up to `limit` prompt emails as `sending` until `lease_until`, counting the attempt:
/// first any whose lease ran out, then the due ones, oldest first. Concurrent workers never take
/// the same one.
pub fn claim(
    conn: &mut DbConn,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<ClaimedPromptEmail>> {
    let (sending, queued, retrying) = (
        NotificationState::Sending.as_str(),
        NotificationState::Queued.as_str(),
        NotificationState::Retrying.as_str(),
    );
    let expired = format!("email_state = '{sending}' AND email_lease_until < $2");
    let mut claimed = claim_where(conn, &expired, "email_lease_until", now, lease_until, limit)?;
    let left = limit - i64::try_from(claimed.len()).unwrap_or(limit);
    if left > 0 {
        let due = format!("email_state IN ('{queued}', '{retrying}') AND email_next_at <= $2");
        claimed.extend(claim_where(conn, &due, "email_next_at", now, lease_until, left)?);
    }
    Ok(claimed)
}

/// One claiming UPDATE over the prompts whose email matches `condition` (`$2` is now), oldest
/// `order` first: the text of each condition is that of its partial index.
fn claim_where(
    conn: &mut DbConn,
    condition: &str,
    order: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<ClaimedPromptEmail>> {
    // One statement is atomic on SQLite, which has a single writer anyway; PostgreSQL's
    // concurrent claimers skip each other's rows.
    let lock = if matches!(conn, DbConn::Postgresql(_)) { " FOR UPDATE SKIP LOCKED" } else { "" };
    let sql = super::native_placeholders(
        conn,
        &format!(
            "UPDATE prompts SET email_state = '{sending}', email_lease_until = $1, \
             email_attempts = email_attempts + 1 \
             WHERE (incident_id, user_id) IN (SELECT incident_id, user_id FROM prompts \
             WHERE {condition} ORDER BY {order} LIMIT $3{lock}) \
             RETURNING incident_id, user_id, email_attempts",
            sending = NotificationState::Sending.as_str(),
        ),
    );
    diesel::sql_query(sql)
        .bind::<Timestamp, _>(lease_until)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load(conn)
}

/// Records the outcomes of prompt emails this worker still holds (`sending` under the lease it
/// claimed them with), in one transaction. One whose lease was taken over is left alone.
pub fn record(
    conn: &mut DbConn,
    outcomes: &[(PromptKey, Outcome)],
    held_lease: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let none: Option<NaiveDateTime> = None;
    conn.transaction(|conn| {
        // Most outcomes are `Sent`: one statement per incident (and 500 prompts) for them.
        let mut sent: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for ((incident_id, user_id), _) in outcomes.iter().filter(|(_, o)| matches!(o, Outcome::Sent)) {
            sent.entry(incident_id.as_str()).or_default().push(user_id.as_str());
        }
        for (incident_id, user_ids) in &sent {
            for user_ids in user_ids.chunks(500) {
                diesel::update(
                    prompts::table
                        .filter(prompts::incident_id.eq(incident_id))
                        .filter(prompts::user_id.eq_any(user_ids))
                        .filter(prompts::email_state.eq(NotificationState::Sending.as_str()))
                        .filter(prompts::email_lease_until.eq(held_lease)),
                )
                .set((
                    prompts::email_state.eq(NotificationState::Sent.as_str()),
                    prompts::email_sent_at.eq(now),
                    prompts::email_lease_until.eq(none),
                ))
                .execute(conn)?;
            }
        }
        for ((incident_id, user_id), outcome) in outcomes {
            let target = prompts::table
                .find((incident_id, user_id))
                .filter(prompts::email_state.eq(NotificationState::Sending.as_str()))
                .filter(prompts::email_lease_until.eq(held_lease));
            match outcome {
                Outcome::Sent => 0,
                Outcome::Retry { at, error } => diesel::update(target)
                    .set((
                        prompts::email_state.eq(NotificationState::Retrying.as_str()),
                        prompts::email_next_at.eq(at),
                        prompts::email_error.eq(error),
                        prompts::email_lease_until.eq(none),
                    ))
                    .execute(conn)?,
                Outcome::Failed { error } => diesel::update(target)
                    .set((
                        prompts::email_state.eq(NotificationState::Failed.as_str()),
                        prompts::email_error.eq(error),
                        prompts::email_lease_until.eq(none),
                    ))
                    .execute(conn)?,
                Outcome::Suppressed | Outcome::Cancelled => {
                    let state = if matches!(outcome, Outcome::Suppressed) {
                        NotificationState::Suppressed
                    } else {
                        NotificationState::Cancelled
                    };
                    diesel::update(target)
                        .set((prompts::email_state.eq(state.as_str()), prompts::email_lease_until.eq(none)))
                        .execute(conn)?
                }
            };
        }
        Ok(())
    })
}

/// Prompt emails by state: the incident's, or (`None`) all incidents' for metrics.
pub fn count_by_state(
    conn: &mut DbConn,
    incident_id: Option<&str>,
) -> QueryResult<Vec<(NotificationState, i64)>> {
    let mut query = prompts::table
        .filter(prompts::email_state.is_not_null())
        .group_by(prompts::email_state)
        .select((prompts::email_state, diesel::dsl::count_star()))
        .into_boxed();
    if let Some(incident_id) = incident_id {
        query = query.filter(prompts::incident_id.eq(incident_id));
    }
    let counts: Vec<(Option<String>, i64)> = query.load(conn)?;
    Ok(known_states(counts.into_iter().filter_map(|(state, n)| Some((state?, n))).collect()))
}

/// When the longest-waiting prompt email that is due became due (as `notifications::oldest_due`).
pub fn oldest_due(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<Option<NaiveDateTime>> {
    let waiting: Option<NaiveDateTime> = prompts::table
        .filter(
            prompts::email_state
                .eq_any([NotificationState::Queued.as_str(), NotificationState::Retrying.as_str()]),
        )
        .filter(prompts::email_next_at.le(now))
        .select(diesel::dsl::min(prompts::email_next_at))
        .first(conn)?;
    let stuck: Option<NaiveDateTime> = prompts::table
        .filter(prompts::email_state.eq(NotificationState::Sending.as_str()))
        .filter(prompts::email_lease_until.lt(now))
        .select(diesel::dsl::min(prompts::email_lease_until))
        .first(conn)?;
    Ok(waiting.into_iter().chain(stuck).min())
}
