//! Who was prompted for an incident and what each answered, as of a fixed time: the operator's
//! list of people. Reading statuses as of one time keeps paging stable while answers arrive (a
//! user's place in the order never moves between pages).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};

use super::DbConn;

/// One prompted user and their answer as of the list's time.
#[derive(Clone, Debug, QueryableByName)]
pub struct PersonRow {
    #[diesel(sql_type = Text)]
    pub user_id: String,
    #[diesel(sql_type = Text)]
    pub display_name: String,
    #[diesel(sql_type = Text)]
    pub email: String,
    /// `need_help`, `no_response`, `not_in_area` or `safe`.
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub answered_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Text>)]
    pub message: Option<String>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub handled_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Text>)]
    pub handled_by: Option<String>,
    /// The row's group in the list order (need_help first).
    #[diesel(sql_type = Integer)]
    pub rank: i32,
}

/// Where a page starts: after this `(rank, user_id)`.
pub type Position = (i32, String);

/// What to list.
pub struct Filter<'a> {
    pub incident_id: &'a str,
    /// Statuses are read as of this time. Everyone prompted is listed, including users prompted
    /// since: a newcomer's status as of this time is fixed too, so the order stays stable.
    pub as_of: NaiveDateTime,
    pub status: Option<&'a str>,
}

// The order of the groups: who needs help, who has not answered, then the rest.
const PEOPLE: &str = "SELECT * FROM ( \
    SELECT p.user_id AS user_id, u.display_name AS display_name, u.email AS email, \
        COALESCE(c.status, 'no_response') AS status, c.created_at AS answered_at, \
        c.message AS message, c.handled_at AS handled_at, c.handled_by AS handled_by, \
        CASE COALESCE(c.status, 'no_response') WHEN 'need_help' THEN 0 WHEN 'no_response' THEN 1 \
            WHEN 'not_in_area' THEN 2 ELSE 3 END AS rank \
    FROM prompts p \
    JOIN users u ON u.id = p.user_id \
    LEFT JOIN check_ins c ON c.id = ( \
        SELECT c2.id FROM check_ins c2 \
        WHERE c2.incident_id = p.incident_id AND c2.user_id = p.user_id AND c2.created_at <= $2 \
        ORDER BY c2.created_at DESC, c2.id DESC LIMIT 1) \
    WHERE p.incident_id = $1 \
) people \
WHERE (rank > $3 OR (rank = $3 AND user_id > $4))";

/// Up to `limit` people after `after`, in list order.
pub fn page(
    conn: &mut DbConn,
    filter: &Filter<'_>,
    after: Option<&Position>,
    limit: i64,
) -> QueryResult<Vec<PersonRow>> {
    let (rank, user_id) = after.cloned().unwrap_or((-1, String::new()));
    let status_clause = if filter.status.is_some() { " AND status = $6" } else { "" };
    let sql = format!("{PEOPLE}{status_clause} ORDER BY rank, user_id LIMIT $5");
    let query = diesel::sql_query(super::native_placeholders(conn, &sql))
        .into_boxed()
        .bind::<Text, _>(filter.incident_id.to_owned())
        .bind::<Timestamp, _>(filter.as_of)
        .bind::<Integer, _>(rank)
        .bind::<Text, _>(user_id)
        .bind::<BigInt, _>(limit);
    match filter.status {
        Some(status) => query.bind::<Text, _>(status.to_owned()).load(conn),
        None => query.load(conn),
    }
}

/// Calls `f` with every person in list order, reading rows as they come (for exports); stops
/// early when `f` returns false.
pub fn each(conn: &mut DbConn, filter: &Filter<'_>, mut f: impl FnMut(PersonRow) -> bool) -> QueryResult<()> {
    let status_clause = if filter.status.is_some() { " AND status = $5" } else { "" };
    let sql = format!("{PEOPLE}{status_clause} ORDER BY rank, user_id");
    let query = diesel::sql_query(super::native_placeholders(conn, &sql))
        .into_boxed()
        .bind::<Text, _>(filter.incident_id.to_owned())
        .bind::<Timestamp, _>(filter.as_of)
        .bind::<Integer, _>(-1)
        .bind::<Text, _>(String::new());
    let query = match filter.status {
        Some(status) => query.bind::<Text, _>(status.to_owned()),
        None => query,
    };
    for row in query.load_iter::<PersonRow, diesel::connection::DefaultLoadingMode>(conn)? {
        if !f(row?) {
            break;
        }
    }
    Ok(())
}

/// The user's row in the list as of `as_of`, if they were prompted.
pub fn one(
    conn: &mut DbConn,
    incident_id: &str,
    user_id: &str,
    as_of: NaiveDateTime,
) -> QueryResult<Option<PersonRow>> {
    let sql = format!("{PEOPLE} AND user_id = $5");
    diesel::sql_query(super::native_placeholders(conn, &sql))
        .bind::<Text, _>(incident_id)
        .bind::<Timestamp, _>(as_of)
        .bind::<Integer, _>(-1)
        .bind::<Text, _>("")
        .bind::<Text, _>(user_id)
        .get_result(conn)
        .optional()
}
