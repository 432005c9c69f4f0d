//! Addresses that unsubscribed: they get nothing again, whoever lists them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::suppressions;
use super::{DbConn, is_unique_violation};

/// Adds the address; unsubscribing twice is fine.
pub fn add(conn: &mut DbConn, email: &str, now: NaiveDateTime) -> QueryResult<()> {
    let inserted = diesel::insert_into(suppressions::table)
        .values((suppressions::email.eq(email), suppressions::created_at.eq(now)))
        .execute(conn);
    match inserted {
        Err(e) if !is_unique_violation(&e) => Err(e),
        _ => Ok(()),
    }
}

pub fn contains(conn: &mut DbConn, email: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(suppressions::table.find(email))).get_result(conn)
}
