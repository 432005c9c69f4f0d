//! The hourly per-recipient cap, as one counter per (canonical address, clock hour).

use chrono::{NaiveDateTime, Timelike};
use diesel::prelude::*;

use super::DbConn;
use super::schema::recipient_hours;

/// The clock hour `at` falls in.
pub fn hour_of(at: NaiveDateTime) -> NaiveDateTime {
    at.with_minute(0).and_then(|t| t.with_second(0)).and_then(|t| t.with_nanosecond(0)).unwrap_or(at)
}

/// Counts one message to `email_canonical` in the hour of `now` if fewer than `cap` were counted
/// there; false (nothing counted) when the cap is reached.
///
/// Atomic under concurrency: the row is made if missing (a no-op when it exists), then one
/// conditional `UPDATE ... SET sent = sent + 1 WHERE sent < cap`. On PostgreSQL concurrent
/// updates of the row wait for each other and re-check `sent < cap` on the row as committed,
/// so no two transactions both take the last place (a read-then-insert would let them).
pub fn take(conn: &mut DbConn, email_canonical: &str, now: NaiveDateTime, cap: i64) -> QueryResult<bool> {
    let hour = hour_of(now);
    let create = diesel::insert_into(recipient_hours::table)
        .values((
            recipient_hours::email_canonical.eq(email_canonical),
            recipient_hours::hour.eq(hour),
            recipient_hours::sent.eq(0),
        ))
        .on_conflict_do_nothing();
    // MultiConnection has no upsert: the same statement on the inner connection.
    match conn {
        DbConn::Postgresql(pg) => create.execute(pg)?,
        DbConn::Sqlite(lite) => create.execute(lite)?,
    };
    let cap = i32::try_from(cap).unwrap_or(i32::MAX);
    let counted = diesel::update(
        recipient_hours::table
            .filter(recipient_hours::email_canonical.eq(email_canonical))
            .filter(recipient_hours::hour.eq(hour))
            .filter(recipient_hours::sent.lt(cap)),
    )
    .set(recipient_hours::sent.eq(recipient_hours::sent + 1))
    .execute(conn)?;
    Ok(counted == 1)
}
