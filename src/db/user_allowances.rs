//! Per-user limits' state: each (limit, user)'s theoretical arrival time (when the user's
//! allowance is whole again), in microseconds since the Unix epoch. Stored rather than kept in
//! each process's memory, so that every server process counts against one allowance.

use diesel::prelude::*;

use super::DbConn;
use super::fixed::{Fixed, Param};
use super::schema::user_allowances::{self, dsl};

/// The upsert of [`take`], prepared once per connection (diesel's own upsert is never).
const TAKE: &str = "INSERT INTO user_allowances (limit_name, user_id, full_at_us) VALUES (?, ?, ?) \
     ON CONFLICT (limit_name, user_id) DO UPDATE SET full_at_us = \
     CASE WHEN user_allowances.full_at_us > ? THEN user_allowances.full_at_us + ? ELSE ? END \
     WHERE user_allowances.full_at_us <= ?";

/// Takes one request's slot of `limit` for `user` at `now_us`, only if the stored time is at most
/// `latest_passing_us`; true if taken (false: refused, nothing changed). The stored time becomes
/// `max(stored, now) + interval`; a missing row is a whole allowance, so a first request always
/// passes (`latest_passing_us` is never before `now_us`).
///
/// One statement (an upsert whose update has a WHERE): on PostgreSQL a concurrent statement on
/// the same row waits for this one and checks the WHERE against the row as this one left it, so
/// two processes cannot both take the last slot (a read-then-write could); on SQLite writes do
/// not run concurrently at all.
pub fn take(
    conn: &mut DbConn,
    limit: &str,
    user: &str,
    now_us: i64,
    interval_us: i64,
    latest_passing_us: i64,
) -> QueryResult<bool> {
    let after_now = now_us.saturating_add(interval_us);
    let taken = Fixed::new(
        TAKE,
        vec![
            Param::Text(limit),
            Param::Text(user),
            Param::BigInt(after_now),
            Param::BigInt(now_us),
            Param::BigInt(interval_us),
            Param::BigInt(after_now),
            Param::BigInt(latest_passing_us),
        ],
    );
    // MultiConnection has no upsert: the same statement on the inner connection.
    let taken = match conn {
        DbConn::Postgresql(pg) => taken.execute(pg)?,
        DbConn::Sqlite(lite) => taken.execute(lite)?,
    };
    Ok(taken == 1)
}

/// The stored time of `limit` for `user`, if any (to say how long a refused request waits).
pub fn full_at(conn: &mut DbConn, limit: &str, user: &str) -> QueryResult<Option<i64>> {
    user_allowances::table.find((limit, user)).select(dsl::full_at_us).first(conn).optional()
}

/// Deletes up to `batch` rows whose time is before `now_us`: their allowance is whole again,
/// which a missing row means too. How many went.
pub fn delete_whole(conn: &mut DbConn, now_us: i64, batch: i64) -> QueryResult<usize> {
    super::delete_lower_batch(conn, ("user_allowances", "limit_name, user_id", "full_at_us"), now_us, batch)
}
