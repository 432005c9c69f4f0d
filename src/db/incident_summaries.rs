//! The counts an incident keeps once retention deletes its per-person rows, and the deletions
//! themselves, in bounded batches.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::schema::{incident_summaries, incidents};
use super::{DbConn, is_unique_violation, native_placeholders};
use crate::domain::IncidentStatus;

#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = incident_summaries)]
pub struct SummaryRow {
    pub incident_id: String,
    pub prompted: i64,
    pub safe: i64,
    pub not_in_area: i64,
    pub need_help: i64,
    pub need_help_handled: i64,
    pub no_response: i64,
    /// Emails by state, as a JSON object (`{"sent": 12, ...}`).
    pub emails: String,
    pub summarized_at: NaiveDateTime,
    pub purged_at: Option<NaiveDateTime>,
}

pub fn find(conn: &mut DbConn, incident_id: &str) -> QueryResult<Option<SummaryRow>> {
    incident_summaries::table.find(incident_id).select(SummaryRow::as_select()).first(conn).optional()
}

/// Stores the summary unless one is stored already (another process got there first: its
/// counts were taken before any row was deleted, as these were). True when this one is kept.
pub fn insert_first(conn: &mut DbConn, row: &SummaryRow) -> QueryResult<bool> {
    match diesel::insert_into(incident_summaries::table).values(row.clone()).execute(conn) {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Records that every per-person row of the incident is gone.
pub fn mark_purged(conn: &mut DbConn, incident_id: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(
        incident_summaries::table.find(incident_id).filter(incident_summaries::purged_at.is_null()),
    )
    .set(incident_summaries::purged_at.eq(now))
    .execute(conn)
    .map(|_| ())
}

/// The incident that ended longest ago, before `ended_before`, whose rows are not all purged.
pub fn next_to_purge(conn: &mut DbConn, ended_before: NaiveDateTime) -> QueryResult<Option<String>> {
    incidents::table
        .left_join(incident_summaries::table)
        .filter(incidents::status.ne(IncidentStatus::Active.as_str()))
        .filter(incidents::resolved_at.lt(ended_before))
        .filter(incident_summaries::purged_at.is_null())
        .order((incidents::resolved_at.asc(), incidents::id.asc()))
        .select(incidents::id)
        .first(conn)
        .optional()
}

/// The tables holding an incident's per-person rows, and each one's key, in the order they are
/// emptied: its outbox rows, current answers, check-ins, then the prompts themselves.
const PER_PERSON: [(&str, &str); 4] =
    [("notifications", "id"), ("responses", "user_id"), ("check_ins", "id"), ("prompts", "user_id")];

/// Whether any of the incident's per-person rows is left.
pub fn any_left(conn: &mut DbConn, incident_id: &str) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Left {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        rows_left: bool,
    }
    let exists: Vec<String> = PER_PERSON
        .iter()
        .map(|(table, _)| format!("EXISTS (SELECT 1 FROM {table} WHERE incident_id = $1)"))
        .collect();
    let sql = format!("SELECT ({}) AS rows_left", exists.join(" OR "));
    let found: Left =
        diesel::sql_query(native_placeholders(conn, &sql)).bind::<Text, _>(incident_id).get_result(conn)?;
    Ok(found.rows_left)
}

/// Deletes up to `batch` of the incident's rows from each table; returns how many went. Each
/// statement commits on its own, so a large incident never holds one long transaction; two
/// processes doing this at once delete each row once.
pub fn delete_batch(conn: &mut DbConn, incident_id: &str, batch: i64) -> QueryResult<usize> {
    let mut deleted = 0;
    for (table, key) in PER_PERSON {
        let sql = format!(
            "DELETE FROM {table} WHERE incident_id = $1 AND {key} IN \
             (SELECT {key} FROM {table} WHERE incident_id = $1 LIMIT $2)"
        );
        deleted += diesel::sql_query(native_placeholders(conn, &sql))
            .bind::<Text, _>(incident_id)
            .bind::<BigInt, _>(batch)
            .execute(conn)?;
    }
    Ok(deleted)
}
