//! Who was prompted for an incident and what each answered, as of a fixed time: the operator's
//! list of people. Reading statuses as of one time keeps paging stable while answers arrive (a
//! user's place in the order never moves between pages).

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};

use super::DbConn;
use crate::domain::PromptSource;

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
    /// How they came to be prompted: by the fan-out, by arriving, or by answering unprompted.
    #[diesel(sql_type = Text)]
    pub prompt_source: PromptSource,
    /// The row's group in the list order (need_help first).
    #[diesel(sql_type = Integer)]
    pub rank: i32,
}

/// Where a page starts: after this user of this group (an index into [`GROUPS`]).
pub type Position = (i32, String);

/// The list's groups in order: who needs help, who has not answered, then the rest.
pub const GROUPS: [&str; 4] = ["need_help", "no_response", "not_in_area", "safe"];

/// What to list.
pub struct Filter<'a> {
    pub incident_id: &'a str,
    /// Statuses are read as of this time. Everyone prompted is listed, including users prompted
    /// since: a newcomer's status as of this time is fixed too, so the order stays stable.
    pub as_of: NaiveDateTime,
    pub status: Option<&'a str>,
}

// Each prompted user with their last answer as of $2, then their name and email. Walking one
// group at a time along the prompts' primary key (incident_id, user_id) lets a page stop as soon
// as it is full, instead of ranking the whole incident for every page; joining users only to
// the page's rows keeps PostgreSQL from scanning every user to build a hash join.
fn people_sql(filter: &str) -> String {
    format!(
        "SELECT x.user_id AS user_id, u.display_name AS display_name, u.email AS email, \
            x.status AS status, x.answered_at AS answered_at, x.message AS message, \
            x.handled_at AS handled_at, x.handled_by AS handled_by, x.prompt_source AS prompt_source, \
            $3 AS rank \
        FROM ( \
            SELECT p.user_id AS user_id, p.source AS prompt_source, COALESCE(c.status, 'no_response') AS status, \
                c.created_at AS answered_at, c.message AS message, c.handled_at AS handled_at, \
                c.handled_by AS handled_by \
            FROM prompts p \
            LEFT JOIN check_ins c ON c.id = ( \
                SELECT c2.id FROM check_ins c2 \
                WHERE c2.incident_id = p.incident_id AND c2.user_id = p.user_id AND c2.created_at <= $2 \
                ORDER BY c2.created_at DESC, c2.id DESC LIMIT 1) \
            WHERE p.incident_id = $1 {filter} \
        ) x \
        JOIN users u ON u.id = x.user_id \
        ORDER BY x.user_id"
    )
}

/// Up to `limit` people after `after`, in list order.
pub fn page(
    conn: &mut DbConn,
    filter: &Filter<'_>,
    after: Option<&Position>,
    limit: i64,
) -> QueryResult<Vec<PersonRow>> {
    let mut rows: Vec<PersonRow> = Vec::new();
    for (group, status) in (0i32..).zip(GROUPS) {
        if filter.status.is_some_and(|wanted| wanted != status) || after.is_some_and(|(at, _)| group < *at) {
            continue;
        }
        let from = after.filter(|(at, _)| *at == group).map_or("", |(_, user_id)| user_id.as_str());
        let wanted = limit - i64::try_from(rows.len()).unwrap_or(limit);
        rows.extend(group_page(conn, filter, group, status, from, wanted)?);
        if i64::try_from(rows.len()).unwrap_or(limit) >= limit {
            break;
        }
    }
    Ok(rows)
}

/// Up to `limit` people of one group whose user id sorts after `from`.
fn group_page(
    conn: &mut DbConn,
    filter: &Filter<'_>,
    group: i32,
    status: &str,
    from: &str,
    limit: i64,
) -> QueryResult<Vec<PersonRow>> {
    let sql = people_sql(
        "AND p.user_id > $4 AND COALESCE(c.status, 'no_response') = $5 ORDER BY p.user_id LIMIT $6",
    );
    let query = diesel::sql_query(super::native_placeholders(conn, &sql))
        .bind::<Text, _>(filter.incident_id)
        .bind::<Timestamp, _>(filter.as_of)
        .bind::<Integer, _>(group)
        .bind::<Text, _>(from)
        .bind::<Text, _>(status)
        .bind::<BigInt, _>(limit);
    match conn {
        DbConn::Postgresql(pg) => pg.transaction(|pg| {
            pg.batch_execute(WALK_IN_KEY_ORDER)?;
            query.load(pg)
        }),
        DbConn::Sqlite(lite) => query.load(lite),
    }
}

/// PostgreSQL's planner cannot estimate the group filter (a `COALESCE` over an outer-joined
/// answer): it expects a few matching rows and plans a scan of every prompt of the incident
/// after the cursor, a join and a sort, for each page. At 1,000,000 people that is about a
/// second a page, and a CSV export reads 500 pages: 255 s measured. A page must walk the
/// prompts in key order and stop once full; these settings, for this transaction only, leave
/// that as the plan (and keep JIT from compiling a plan whose cost they inflate). SQLite's
/// planner walks the key on its own.
const WALK_IN_KEY_ORDER: &str = "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; \
    SET LOCAL enable_sort = off; SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; \
    SET LOCAL jit = off";

/// The user's row in the list as of `as_of`, if they were prompted.
pub fn one(
    conn: &mut DbConn,
    incident_id: &str,
    user_id: &str,
    as_of: NaiveDateTime,
) -> QueryResult<Option<PersonRow>> {
    let sql = people_sql("AND p.user_id = $4");
    let row: Option<PersonRow> = diesel::sql_query(super::native_placeholders(conn, &sql))
        .bind::<Text, _>(incident_id)
        .bind::<Timestamp, _>(as_of)
        .bind::<Integer, _>(0)
        .bind::<Text, _>(user_id)
        .get_result(conn)
        .optional()?;
    Ok(row.map(|mut row| {
        row.rank =
            GROUPS.iter().position(|g| *g == row.status).and_then(|i| i32::try_from(i).ok()).unwrap_or(0);
        row
    }))
}
