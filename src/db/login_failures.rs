//! Throttled attempts (logins, password checks, registrations), each recorded *before* it is
//! judged, so that parallel attempts see each other. A login that succeeds removes its own.

use chrono::NaiveDateTime;
use diesel::dsl::{count_star, max, min};
use diesel::prelude::*;

use super::DbConn;
use super::schema::login_failures;

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

/// Records an attempt at `at`; returns its id. Not in a transaction on purpose: each attempt
/// must be visible to the others before any of them counts.
pub fn record(conn: &mut DbConn, scope: Scope, subject: &str, at: NaiveDateTime) -> QueryResult<String> {
    let id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(login_failures::table)
        .values((
            login_failures::id.eq(&id),
            login_failures::scope.eq(scope.as_str()),
            login_failures::subject.eq(subject),
            login_failures::attempted_at.eq(at),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Attempts for `subject` since `since`: how many, and when the oldest of them was.
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

/// The latest attempt for `subject` other than `except` (the caller's own).
pub fn latest_other(
    conn: &mut DbConn,
    scope: Scope,
    subject: &str,
    except: &str,
) -> QueryResult<Option<NaiveDateTime>> {
    login_failures::table
        .filter(login_failures::scope.eq(scope.as_str()))
        .filter(login_failures::subject.eq(subject))
        .filter(login_failures::id.ne(except))
        .select(max(login_failures::attempted_at))
        .first(conn)
}

/// Forgets one attempt (a login that succeeded is not a failure of its address).
pub fn delete(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    diesel::delete(login_failures::table.filter(login_failures::id.eq(id))).execute(conn)
}

/// Forgets every attempt for `subject` (a successful login clears its account and address).
pub fn clear(conn: &mut DbConn, scope: Scope, subject: &str) -> QueryResult<usize> {
    diesel::delete(
        login_failures::table
            .filter(login_failures::scope.eq(scope.as_str()))
            .filter(login_failures::subject.eq(subject)),
    )
    .execute(conn)
}

/// Deletes attempts older than `cutoff` (housekeeping).
pub fn delete_before(conn: &mut DbConn, cutoff: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(login_failures::table.filter(login_failures::attempted_at.lt(cutoff))).execute(conn)
}
