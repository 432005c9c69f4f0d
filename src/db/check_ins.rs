//! Check-ins (the history) and responses (each user's current answer per incident).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::schema::{check_ins, responses};
use crate::domain::SafetyStatus;

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = check_ins)]
pub struct CheckInRow {
    pub id: String,
    pub incident_id: String,
    pub user_id: String,
    #[diesel(serialize_as = String)]
    pub status: SafetyStatus,
    pub message: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = responses)]
#[diesel(treat_none_as_null = true)]
pub struct ResponseRow {
    pub incident_id: String,
    pub user_id: String,
    #[diesel(serialize_as = String)]
    pub status: SafetyStatus,
    pub message: Option<String>,
    pub check_in_id: String,
    pub answered_at: NaiveDateTime,
}

/// The user's current answer to the incident.
pub fn current(conn: &mut DbConn, incident_id: &str, user_id: &str) -> QueryResult<Option<ResponseRow>> {
    responses::table.find((incident_id, user_id)).select(ResponseRow::as_select()).first(conn).optional()
}

/// Every answer of the user to the incident, newest first.
pub fn history(conn: &mut DbConn, incident_id: &str, user_id: &str) -> QueryResult<Vec<CheckInRow>> {
    check_ins::table
        .filter(check_ins::incident_id.eq(incident_id))
        .filter(check_ins::user_id.eq(user_id))
        .order((check_ins::created_at.desc(), check_ins::id.desc()))
        .select(CheckInRow::as_select())
        .load(conn)
}

/// How many users currently give each status, for the incident's stats.
///
/// Answers in a status this version does not know (written by a newer version during a rolling
/// upgrade) are left out of the figures and said in the log.
pub fn count_by_status(conn: &mut DbConn, incident_id: &str) -> QueryResult<Vec<(SafetyStatus, i64)>> {
    let counts: Vec<(String, i64)> = responses::table
        .filter(responses::incident_id.eq(incident_id))
        .group_by(responses::status)
        .select((responses::status, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(counts
        .into_iter()
        .filter_map(|(status, count)| match status.parse() {
            Ok(known) => Some((known, count)),
            Err(_) => {
                tracing::warn!(status, count, "answers in a status this version does not know");
                None
            }
        })
        .collect())
}

/// Marks the user's current answer handled if it is `need_help` and not handled yet; true when
/// this call marked it. One statement, so that a transaction can start with it (on SQLite a
/// transaction that reads before it writes can be refused the write lock).
pub fn mark_current_need_help_handled(
    conn: &mut DbConn,
    incident_id: &str,
    user_id: &str,
    by: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let current_need_help = responses::table
        .filter(responses::incident_id.eq(incident_id))
        .filter(responses::user_id.eq(user_id))
        .filter(responses::status.eq("need_help"))
        .select(responses::check_in_id);
    diesel::update(
        check_ins::table
            .filter(check_ins::id.eq_any(current_need_help))
            .filter(check_ins::handled_at.is_null()),
    )
    .set((check_ins::handled_at.eq(now), check_ins::handled_by.eq(by)))
    .execute(conn)
    .map(|n| n > 0)
}

/// How many users' current answer is `need_help` and was marked handled.
pub fn count_need_help_handled(conn: &mut DbConn, incident_id: &str) -> QueryResult<i64> {
    responses::table
        .inner_join(check_ins::table.on(check_ins::id.eq(responses::check_in_id)))
        .filter(responses::incident_id.eq(incident_id))
        .filter(responses::status.eq("need_help"))
        .filter(check_ins::handled_at.is_not_null())
        .count()
        .get_result(conn)
}
