//! Throttled attempts (logins, password checks, registrations) as one counter per (scope,
//! subject), each attempt counted by one atomic statement *before* it is judged, so that parallel
//! attempts see each other. An attempt costs the same few statements however many came before
//! it (rows per attempt made a flood of N attempts cost N rows read N times).

use chrono::NaiveDateTime;
use diesel::dsl::case_when;
use diesel::prelude::*;

use super::DbConn;
use super::schema::throttle_counters::{self, dsl};

/// What an attempt counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One account from one client address; the subject is `address account`.
    AccountAddress,
    /// Logins and password checks from one client address, whatever the account.
    Ip,
    /// Registrations from one client address.
    Registration,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::AccountAddress => "account_address",
            Scope::Ip => "ip",
            Scope::Registration => "registration",
        }
    }
}

/// One attempt as its counting statement saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Queryable)]
pub struct Counted {
    /// Attempts counted in the window, this one included: the k-th of concurrent attempts to be
    /// counted reads k.
    pub attempts: i32,
    /// When the window this attempt was counted in began.
    pub window_start: NaiveDateTime,
    /// The time of the attempt counted just before this one (None for a subject's first).
    pub previous_at: Option<NaiveDateTime>,
}

/// Counts an attempt on `subject` at `now`; a window or more after the counter's window began,
/// the count starts again at this attempt. One statement (insert, or update of the existing
/// row), committed at once: not in a transaction on purpose, since each attempt must be counted
/// before any concurrent one is judged. On PostgreSQL concurrent statements on one row wait for
/// each other and each updates the row as the previous one committed it, so each gets a count of
/// its own and its predecessor's time.
pub fn count(
    conn: &mut DbConn,
    scope: Scope,
    subject: &str,
    now: NaiveDateTime,
    window: chrono::Duration,
) -> QueryResult<Counted> {
    // A window started at or before this has passed.
    let over = now.checked_sub_signed(window).unwrap_or(chrono::DateTime::UNIX_EPOCH.naive_utc());
    let statement = diesel::insert_into(throttle_counters::table)
        .values((
            dsl::scope.eq(scope.as_str()),
            dsl::subject.eq(subject),
            dsl::attempts.eq(1),
            dsl::window_start.eq(now),
            dsl::latest_at.eq(now),
            dsl::previous_at.eq(None::<NaiveDateTime>),
        ))
        .on_conflict((dsl::scope, dsl::subject))
        .do_update()
        // Every right-hand side reads the row as it was before this statement.
        .set((
            dsl::attempts.eq(case_when(dsl::window_start.gt(over), dsl::attempts + 1).otherwise(1)),
            dsl::window_start.eq(case_when(dsl::window_start.gt(over), dsl::window_start).otherwise(now)),
            dsl::previous_at.eq(dsl::latest_at.nullable()),
            dsl::latest_at.eq(now),
        ))
        .returning((dsl::attempts, dsl::window_start, dsl::previous_at));
    // MultiConnection has no upsert: the same statement on the inner connection.
    match conn {
        DbConn::Postgresql(pg) => statement.get_result(pg),
        DbConn::Sqlite(lite) => statement.get_result(lite),
    }
}

/// Takes back one attempt that `counted` describes (the attempt did not happen, or did not
/// fail). A no-op once its window is over (the count started again or the row is gone). While
/// no attempt was counted after it, the latest attempt's time goes back to its predecessor's,
/// so the next attempt's delay is measured as if it had never been made.
pub fn uncount(conn: &mut DbConn, scope: Scope, subject: &str, counted: &Counted) -> QueryResult<usize> {
    let still_latest = dsl::attempts.eq(counted.attempts).and(dsl::previous_at.is_not_null());
    diesel::update(
        throttle_counters::table
            .filter(dsl::scope.eq(scope.as_str()))
            .filter(dsl::subject.eq(subject))
            .filter(dsl::window_start.eq(counted.window_start))
            .filter(dsl::attempts.gt(0)),
    )
    .set((
        dsl::attempts.eq(dsl::attempts - 1),
        dsl::latest_at
            .eq(case_when(still_latest, dsl::previous_at.assume_not_null()).otherwise(dsl::latest_at)),
    ))
    .execute(conn)
}

/// Forgets `subject`'s count (a successful login clears its account and address pair).
pub fn clear(conn: &mut DbConn, scope: Scope, subject: &str) -> QueryResult<usize> {
    diesel::delete(
        throttle_counters::table.filter(dsl::scope.eq(scope.as_str())).filter(dsl::subject.eq(subject)),
    )
    .execute(conn)
}

/// The attempts counted on `subject` in its current window, and when that began; None when
/// nothing is counted. Read by tests and diagnostics; the throttle itself never reads a count
/// apart from the statement that changes it.
pub fn attempts(conn: &mut DbConn, scope: Scope, subject: &str) -> QueryResult<Option<(i32, NaiveDateTime)>> {
    throttle_counters::table
        .filter(dsl::scope.eq(scope.as_str()))
        .filter(dsl::subject.eq(subject))
        .select((dsl::attempts, dsl::window_start))
        .first(conn)
        .optional()
}

/// Deletes up to `batch` counters whose window began before `cutoff` (now minus the window):
/// their next attempt would start the count again, as if there were no row. How many went.
pub fn delete_expired(conn: &mut DbConn, cutoff: NaiveDateTime, batch: i64) -> QueryResult<usize> {
    super::delete_older_batch(conn, ("throttle_counters", "scope, subject", "window_start"), cutoff, batch)
}
