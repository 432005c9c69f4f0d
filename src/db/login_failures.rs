//! Failed logins, counted per account and per client address for throttling.

use chrono::NaiveDateTime;
use diesel::dsl::{count_star, min};
use diesel::prelude::*;

use super::DbConn;
use super::schema::login_failures;

/// What a failure counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Account,
    Ip,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Account => "account",
            Scope::Ip => "ip",
        }
    }
}

/// Failures for `subject` since `since`: how many, and when the oldest of them was.
pub fn recent(
    conn: &mut DbConn,
    scope: Scope,
    subject: &str,
    since: NaiveDateTime,
) -> QueryResult<(i64, Option<NaiveDateTime>)> {
    login_failures::table
        .filter(login_failures::scope.eq(scope.as_str()))
        .filter(login_failures::subject.eq(subject))
        .filter(login_failures::attempted_at.gt(since))
        .select((count_star(), min(login_failures::attempted_at)))
        .first(conn)
}

pub fn record(conn: &mut DbConn, scope: Scope, subject: &str, at: NaiveDateTime) -> QueryResult<()> {
    diesel::insert_into(login_failures::table)
        .values((
            login_failures::id.eq(uuid::Uuid::new_v4().to_string()),
            login_failures::scope.eq(scope.as_str()),
            login_failures::subject.eq(subject),
            login_failures::attempted_at.eq(at),
        ))
        .execute(conn)
        .map(|_| ())
}

/// A successful login clears the account's failures (not the address's).
pub fn clear(conn: &mut DbConn, scope: Scope, subject: &str) -> QueryResult<usize> {
    diesel::delete(
        login_failures::table
            .filter(login_failures::scope.eq(scope.as_str()))
            .filter(login_failures::subject.eq(subject)),
    )
    .execute(conn)
}

/// Deletes failures older than `cutoff` (housekeeping).
pub fn delete_before(conn: &mut DbConn, cutoff: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(login_failures::table.filter(login_failures::attempted_at.lt(cutoff))).execute(conn)
}
