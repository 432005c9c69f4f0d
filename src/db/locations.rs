//! The latest location fix per user.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text, Timestamp};

use super::DbConn;
use super::schema::user_locations;
use crate::domain::Fix;

#[derive(Clone, Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = user_locations)]
#[diesel(treat_none_as_null = true)]
pub struct LocationRow {
    pub user_id: String,
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: Option<f64>,
    pub recorded_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl LocationRow {
    /// The row that stores `fix` as the user's latest location, received at `now`.
    pub fn new(user_id: &str, fix: &Fix, now: NaiveDateTime) -> Self {
        Self {
            user_id: user_id.to_owned(),
            lat: fix.lat,
            lon: fix.lon,
            accuracy_m: fix.accuracy_m,
            recorded_at: fix.recorded_at.naive_utc(),
            updated_at: now,
        }
    }
}

/// Stores the fix unless a newer one is already stored. Returns whether it was stored.
/// One statement (an upsert whose update is conditional) so concurrent fixes cannot race.
pub fn upsert_if_newer(conn: &mut DbConn, row: &LocationRow) -> QueryResult<bool> {
    let upsert = diesel::insert_into(user_locations::table)
        .values(row)
        .on_conflict(user_locations::user_id)
        .do_update()
        .set(row);
    // `ON CONFLICT ... DO UPDATE ... WHERE`: the upsert's own filter, not `QueryDsl::filter`.
    let query = diesel::query_dsl::methods::FilterDsl::filter(
        upsert,
        user_locations::recorded_at.le(row.recorded_at),
    );
    // MultiConnection has no upsert: run the same statement on the inner connection.
    let changed = match conn {
        DbConn::Postgresql(c) => query.execute(c)?,
        DbConn::Sqlite(c) => query.execute(c)?,
    };
    Ok(changed > 0)
}

/// Deletes up to `batch` locations recorded before `cutoff` (housekeeping: too stale for any
/// fan-out or arrival to use).
pub fn delete_recorded_before(conn: &mut DbConn, cutoff: NaiveDateTime, batch: i64) -> QueryResult<usize> {
    super::delete_older_batch(conn, ("user_locations", "user_id", "recorded_at"), cutoff, batch)
}

pub fn find(conn: &mut DbConn, user_id: &str) -> QueryResult<Option<LocationRow>> {
    user_locations::table.find(user_id).select(LocationRow::as_select()).first(conn).optional()
}

/// A place in the fan-out's walk: after this user of this cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GridPosition {
    pub cell: i64,
    pub user_id: String,
}

/// A stored location the fan-out reads: whose, where and how fresh.
#[derive(Clone, Debug, QueryableByName)]
pub struct Candidate {
    #[diesel(sql_type = Text)]
    pub user_id: String,
    #[diesel(sql_type = BigInt)]
    pub cell: i64,
    #[diesel(sql_type = Double)]
    pub lat: f64,
    #[diesel(sql_type = Double)]
    pub lon: f64,
    #[diesel(sql_type = Timestamp)]
    pub recorded_at: NaiveDateTime,
}

impl Candidate {
    /// Where the walk stands after this one.
    pub fn position(&self) -> GridPosition {
        GridPosition { cell: self.cell, user_id: self.user_id.clone() }
    }
}

/// A fan-out chunk's read of one run of cells from its start: `$1` first cell, `$2` last cell,
/// `$3` limit.
pub const RUN_SQL: &str = "SELECT user_id, cell, lat, lon, recorded_at FROM user_locations \
    WHERE cell BETWEEN $1 AND $2 ORDER BY cell, user_id LIMIT $3";

/// A fan-out chunk's read of the run it stopped in: after (`$1` cell, `$2` user id), up to `$3`
/// last cell, `$4` limit. The row value alone is the lower bound (it implies the run's first
/// cell), so that SQLite too starts its index scan at the cursor, not at the start of the run.
pub const AFTER_SQL: &str = "SELECT user_id, cell, lat, lon, recorded_at FROM user_locations \
    WHERE (cell, user_id) > ($1, $2) AND cell <= $3 ORDER BY cell, user_id LIMIT $4";

/// Up to `limit` stored locations in the cell `runs` (ascending, disjoint: [`grid::runs`]), after
/// `after` in (cell, user id) order: one fan-out chunk. Each run is one index range scan that
/// starts where the last chunk stopped, so a walk reads each index entry once. Freshness and the
/// exact area are the caller's to test.
pub fn in_cells_after(
    conn: &mut DbConn,
    runs: &[(i64, i64)],
    after: Option<&GridPosition>,
    limit: i64,
) -> QueryResult<Vec<Candidate>> {
    let mut found = Vec::new();
    for &(first, last) in runs {
        let left = limit - i64::try_from(found.len()).unwrap_or(limit);
        if left <= 0 {
            break;
        }
        let rows: Vec<Candidate> = match after {
            Some(at) if at.cell > last => continue,
            Some(at) if at.cell >= first => diesel::sql_query(super::native_placeholders(conn, AFTER_SQL))
                .bind::<BigInt, _>(at.cell)
                .bind::<Text, _>(&at.user_id)
                .bind::<BigInt, _>(last)
                .bind::<BigInt, _>(left)
                .load(conn)?,
            _ => diesel::sql_query(super::native_placeholders(conn, RUN_SQL))
                .bind::<BigInt, _>(first)
                .bind::<BigInt, _>(last)
                .bind::<BigInt, _>(left)
                .load(conn)?,
        };
        found.extend(rows);
    }
    Ok(found)
}
