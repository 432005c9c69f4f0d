//! The latest location fix per user.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::schema::user_locations;

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

pub fn find(conn: &mut DbConn, user_id: &str) -> QueryResult<Option<LocationRow>> {
    user_locations::table.find(user_id).select(LocationRow::as_select()).first(conn).optional()
}

/// Fresh fixes inside the box, after `after` in user-id order, at most `limit`: one fan-out
/// chunk's candidates, still to be tested against the exact area.
pub fn in_box_after(
    conn: &mut DbConn,
    bbox: &crate::domain::BoundingBox,
    fresh_since: NaiveDateTime,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<(String, f64, f64)>> {
    let mut query = user_locations::table
        .filter(user_locations::lat.between(bbox.min_lat, bbox.max_lat))
        .filter(user_locations::recorded_at.ge(fresh_since))
        .select((user_locations::user_id, user_locations::lat, user_locations::lon))
        .into_boxed();
    query = match bbox.lon_ranges.as_slice() {
        [(w, e)] => query.filter(user_locations::lon.between(*w, *e)),
        [(w1, e1), (w2, e2), ..] => {
            query.filter(user_locations::lon.between(*w1, *e1).or(user_locations::lon.between(*w2, *e2)))
        }
        [] => return Ok(Vec::new()),
    };
    if let Some(after) = after {
        query = query.filter(user_locations::user_id.gt(after.to_owned()));
    }
    query.order(user_locations::user_id.asc()).limit(limit).load(conn)
}
