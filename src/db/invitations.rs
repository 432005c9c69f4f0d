//! Invitations: one per (user, canonical address) ever, at most one emailed per address per
//! period from anyone, and whether the address accepted.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::DbConn;
use super::schema::{invitations, invited_addresses};

/// Where one invitation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    /// The address followed the accept link (of the invitation email or of a check-in email).
    pub accepted: bool,
    /// The invitation email was queued; false while it is held back because someone else
    /// invited the address within the period.
    pub emailed: bool,
}

/// The user's invitations: canonical address to where it stands.
pub fn of_user(conn: &mut DbConn, user_id: &str) -> QueryResult<HashMap<String, Standing>> {
    Ok(invitations::table
        .filter(invitations::user_id.eq(user_id))
        .select((
            invitations::email_canonical,
            invitations::accepted_at.is_not_null(),
            invitations::emailed_at.is_not_null(),
        ))
        .load::<(String, bool, bool)>(conn)?
        .into_iter()
        .map(|(address, accepted, emailed)| (address, Standing { accepted, emailed }))
        .collect())
}

/// Whether the user ever invited this address.
pub fn exists(conn: &mut DbConn, user_id: &str, email_canonical: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(invitations::table.find((user_id, email_canonical)))).get_result(conn)
}

/// The user's invitations since `since`: how many, and the oldest's time.
pub fn since(
    conn: &mut DbConn,
    user_id: &str,
    since: NaiveDateTime,
) -> QueryResult<(i64, Option<NaiveDateTime>)> {
    invitations::table
        .filter(invitations::user_id.eq(user_id))
        .filter(invitations::created_at.gt(since))
        .select((diesel::dsl::count_star(), diesel::dsl::min(invitations::created_at)))
        .first(conn)
}

/// Takes the address's one invitation of the period: true if nobody invited it within
/// `period` before `now` (and records `now`), false otherwise. A missing row is made (a no-op
/// when it exists), then one conditional UPDATE: two users listing one address at the same
/// moment cannot both take it (on PostgreSQL the second waits for the first's row and re-checks).
pub fn take_address(
    conn: &mut DbConn,
    email_canonical: &str,
    now: NaiveDateTime,
    period: Duration,
) -> QueryResult<bool> {
    let create = diesel::insert_into(invited_addresses::table)
        .values((
            invited_addresses::email_canonical.eq(email_canonical),
            invited_addresses::last_invited_at.eq(now),
        ))
        .on_conflict_do_nothing();
    // MultiConnection has no upsert: the same statement on the inner connection.
    let created = match conn {
        DbConn::Postgresql(pg) => create.execute(pg)?,
        DbConn::Sqlite(lite) => create.execute(lite)?,
    };
    if created == 1 {
        return Ok(true);
    }
    let taken = diesel::update(
        invited_addresses::table
            .filter(invited_addresses::email_canonical.eq(email_canonical))
            .filter(invited_addresses::last_invited_at.le(now - period)),
    )
    .set(invited_addresses::last_invited_at.eq(now))
    .execute(conn)?;
    Ok(taken == 1)
}

/// How an invitation row starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Its email is queued now.
    Emailed,
    /// Its email is held back (the address was invited by someone else within the period).
    HeldBack,
    /// Accepted now, from the accept link of a check-in email, with no row before (a contact
    /// listed before invitations existed).
    Accepted,
}

/// Records the user's invitation of the address; false if it was there already (a concurrent
/// acceptance made it first).
pub fn insert(
    conn: &mut DbConn,
    user_id: &str,
    email_canonical: &str,
    start: Start,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let at = |when: Start| (start == when).then_some(now);
    let insert = diesel::insert_into(invitations::table)
        .values((
            invitations::user_id.eq(user_id),
            invitations::email_canonical.eq(email_canonical),
            invitations::created_at.eq(now),
            invitations::emailed_at.eq(at(Start::Emailed)),
            invitations::accepted_at.eq(at(Start::Accepted)),
        ))
        .on_conflict_do_nothing();
    // MultiConnection has no upsert: the same statement on the inner connection.
    let inserted = match conn {
        DbConn::Postgresql(pg) => insert.execute(pg)?,
        DbConn::Sqlite(lite) => insert.execute(lite)?,
    };
    Ok(inserted == 1)
}

/// Records that a held-back invitation's email is queued now.
pub fn mark_emailed(
    conn: &mut DbConn,
    user_id: &str,
    email_canonical: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(invitations::table.find((user_id, email_canonical)))
        .set(invitations::emailed_at.eq(now))
        .execute(conn)
        .map(drop)
}

/// Marks the invitation accepted (again is fine); false if there is no such invitation.
pub fn accept(
    conn: &mut DbConn,
    user_id: &str,
    email_canonical: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let target = invitations::table.find((user_id, email_canonical));
    let exists: bool = diesel::select(diesel::dsl::exists(target)).get_result(conn)?;
    if exists {
        diesel::update(target.filter(invitations::accepted_at.is_null()))
            .set(invitations::accepted_at.eq(now))
            .execute(conn)?;
    }
    Ok(exists)
}

/// Deletes up to `batch` records of addresses last invited before `cutoff` (no longer within the
/// period that keeps them from another invitation). How many went.
pub fn delete_addresses_invited_before(
    conn: &mut DbConn,
    cutoff: NaiveDateTime,
    batch: i64,
) -> QueryResult<usize> {
    super::delete_older_batch(
        conn,
        ("invited_addresses", "email_canonical", "last_invited_at"),
        cutoff,
        batch,
    )
}
