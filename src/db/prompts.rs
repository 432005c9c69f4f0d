//! Prompts: one per user and incident. Batch inserts differ per backend (no multi-row insert
//! or upsert through `MultiConnection`), so they match on the connection.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Array, Nullable, Text, Timestamp};

use super::DbConn;
use super::incidents::IncidentRow;
use super::schema::{incidents, prompts};
use crate::domain::{NotificationState, PromptSource};

/// Why a prompt closed: its person answered (the answer statements write the same word).
pub const CLOSED_ANSWERED: &str = "answered";

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = prompts)]
pub struct PromptRow {
    pub incident_id: String,
    pub user_id: String,
    #[diesel(serialize_as = String)]
    pub source: PromptSource,
    pub created_at: NaiveDateTime,
    pub closed_at: Option<NaiveDateTime>,
    pub closed_reason: Option<String>,
}

#[derive(QueryableByName)]
struct InsertedUser {
    #[diesel(sql_type = Text)]
    user_id: String,
}

/// Inserts a prompt for each user that has none for this incident and still exists; returns
/// the users whose prompt is new. A prompt whose source asks for an email
/// ([`PromptSource::emails`]) carries it, queued now ([`super::prompt_emails`]).
///
/// On PostgreSQL prompts have no foreign keys (their per-row triggers and row locks were most of
/// a city's fan-out, migration 000016), so the insert reads `users` itself and a user erased
/// meanwhile gets no prompt. A prompt for one person who asked (an arrival, an unprompted
/// answer) also locks their row against erasure until it commits; the fan-out's chunks do not:
/// erasure waits for a chunk in progress instead ([`super::users::delete`]).
pub fn insert_batch(
    conn: &mut DbConn,
    incident_id: &str,
    user_ids: &[String],
    source: PromptSource,
    now: NaiveDateTime,
) -> QueryResult<Vec<String>> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let email_state = source.emails().then_some(NotificationState::Queued.as_str());
    let email_next_at = source.emails().then_some(now);
    match conn {
        // One statement per chunk: the ids travel as one array parameter.
        DbConn::Postgresql(pg) => {
            let lock = if source == PromptSource::Activation { "" } else { " FOR KEY SHARE" };
            diesel::sql_query(format!(
                "INSERT INTO prompts (incident_id, user_id, source, created_at, email_state, email_next_at) \
                 SELECT $1, u.id, $2, $3, $5, $6 FROM users u WHERE u.id = ANY($4::text[]){lock} \
                 ON CONFLICT DO NOTHING RETURNING user_id"
            ))
            .bind::<Text, _>(incident_id)
            .bind::<Text, _>(source.as_str())
            .bind::<Timestamp, _>(now)
            .bind::<Array<Text>, _>(user_ids)
            .bind::<Nullable<Text>, _>(email_state)
            .bind::<Nullable<Timestamp>, _>(email_next_at)
            .load::<InsertedUser>(pg)
            .map(|rows| rows.into_iter().map(|r| r.user_id).collect())
        }
        // Multi-row statements whose shared values are bound once (`?1` to `?5`) and each user
        // id once: SQLite takes 32,766 parameters a statement.
        DbConn::Sqlite(lite) => {
            let mut inserted = Vec::with_capacity(user_ids.len());
            for chunk in user_ids.chunks(10_000) {
                let ids: Vec<String> = (0..chunk.len()).map(|i| format!("?{}", i + 6)).collect();
                // The WHERE clause is also what lets SQLite parse the upsert after a SELECT.
                let mut query = diesel::sql_query(format!(
                    "INSERT INTO prompts (incident_id, user_id, source, created_at, email_state, email_next_at) \
                     SELECT ?1, id, ?2, ?3, ?4, ?5 FROM users WHERE id IN ({}) ORDER BY id \
                     ON CONFLICT DO NOTHING RETURNING user_id",
                    ids.join(", ")
                ))
                .into_boxed::<diesel::sqlite::Sqlite>()
                .bind::<Text, _>(incident_id.to_owned())
                .bind::<Text, _>(source.as_str())
                .bind::<Timestamp, _>(now)
                .bind::<Nullable<Text>, _>(email_state)
                .bind::<Nullable<Timestamp>, _>(email_next_at);
                for user_id in chunk {
                    query = query.bind::<Text, _>(user_id.clone());
                }
                inserted.extend(query.load::<InsertedUser>(lite)?.into_iter().map(|r| r.user_id));
            }
            Ok(inserted)
        }
    }
}

/// The user's open prompts with their incidents, newest first.
pub fn open_for_user(conn: &mut DbConn, user_id: &str) -> QueryResult<Vec<(PromptRow, IncidentRow)>> {
    prompts::table
        .inner_join(incidents::table)
        .filter(prompts::user_id.eq(user_id))
        .filter(prompts::closed_at.is_null())
        .filter(incidents::status.eq(crate::domain::IncidentStatus::Active.as_str()))
        .order((prompts::created_at.desc(), prompts::incident_id.desc()))
        .select((PromptRow::as_select(), IncidentRow::as_select()))
        .load(conn)
}

/// One prompt.
pub fn find(conn: &mut DbConn, incident_id: &str, user_id: &str) -> QueryResult<Option<PromptRow>> {
    prompts::table.find((incident_id, user_id)).select(PromptRow::as_select()).first(conn).optional()
}

/// How many prompts the incident has.
pub fn count(conn: &mut DbConn, incident_id: &str) -> QueryResult<i64> {
    prompts::table.filter(prompts::incident_id.eq(incident_id)).count().get_result(conn)
}

/// How many prompted users of the incident have answered.
pub fn count_answered(conn: &mut DbConn, incident_id: &str) -> QueryResult<i64> {
    use super::schema::responses;
    prompts::table
        .inner_join(
            responses::table.on(responses::incident_id
                .eq(prompts::incident_id)
                .and(responses::user_id.eq(prompts::user_id))),
        )
        .filter(prompts::incident_id.eq(incident_id))
        .count()
        .get_result(conn)
}

/// How many of the incident's prompts are open (not answered, incident not over), and how many
/// of those already had `max_reminders`.
pub fn count_open(conn: &mut DbConn, incident_id: &str, max_reminders: i32) -> QueryResult<(i64, i64)> {
    let open =
        prompts::table.filter(prompts::incident_id.eq(incident_id)).filter(prompts::closed_at.is_null());
    let total = open.count().get_result(conn)?;
    let at_limit = open.filter(prompts::reminders_sent.ge(max_reminders)).count().get_result(conn)?;
    Ok((total, at_limit))
}

/// Counts a reminder on each open prompt that had fewer than `max_reminders` and no email
/// (prompt or reminder) since `quiet_since`; returns each such user with their reminder number.
pub fn take_reminders(
    conn: &mut DbConn,
    incident_id: &str,
    max_reminders: i32,
    quiet_since: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<Vec<(String, i32)>> {
    let quiet = prompts::last_reminded_at
        .le(quiet_since)
        .or(prompts::last_reminded_at.is_null().and(prompts::created_at.le(quiet_since)));
    diesel::update(
        prompts::table
            .filter(prompts::incident_id.eq(incident_id))
            .filter(prompts::closed_at.is_null())
            .filter(prompts::reminders_sent.lt(max_reminders))
            .filter(quiet),
    )
    .set((prompts::reminders_sent.eq(prompts::reminders_sent + 1), prompts::last_reminded_at.eq(now)))
    .returning((prompts::user_id, prompts::reminders_sent))
    .get_results(conn)
}
