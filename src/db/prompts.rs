//! Prompts: one per user and incident. Batch inserts differ per backend (no multi-row insert
//! or upsert through `MultiConnection`), so they match on the connection.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Array, Text, Timestamp};

use super::DbConn;
use super::incidents::{ACTIVE, IncidentRow};
use super::schema::{incidents, prompts};

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = prompts)]
pub struct PromptRow {
    pub incident_id: String,
    pub user_id: String,
    pub source: String,
    pub created_at: NaiveDateTime,
    pub closed_at: Option<NaiveDateTime>,
    pub closed_reason: Option<String>,
}

/// Inserts a prompt for each user that has none for this incident; returns how many were new.
pub fn insert_batch(
    conn: &mut DbConn,
    incident_id: &str,
    user_ids: &[String],
    source: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    if user_ids.is_empty() {
        return Ok(0);
    }
    match conn {
        // One statement per chunk: the ids travel as one array parameter.
        DbConn::Postgresql(pg) => diesel::sql_query(
            "INSERT INTO prompts (incident_id, user_id, source, created_at) \
             SELECT $1, u, $2, $3 FROM unnest($4::text[]) AS u \
             ON CONFLICT DO NOTHING",
        )
        .bind::<Text, _>(incident_id)
        .bind::<Text, _>(source)
        .bind::<Timestamp, _>(now)
        .bind::<Array<Text>, _>(user_ids)
        .execute(pg),
        // SQLite is in-process: prepared single-row inserts in the caller's transaction are as
        // fast as a multi-row statement, and need no bind-count arithmetic.
        DbConn::Sqlite(lite) => {
            let mut inserted = 0;
            for user_id in user_ids {
                inserted += diesel::insert_into(prompts::table)
                    .values((
                        prompts::incident_id.eq(incident_id),
                        prompts::user_id.eq(user_id),
                        prompts::source.eq(source),
                        prompts::created_at.eq(now),
                    ))
                    .on_conflict_do_nothing()
                    .execute(lite)?;
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
        .filter(incidents::status.eq(ACTIVE))
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
