//! Addresses that unsubscribed: they get nothing again, whoever lists them, under any alias.
//! Rows store the canonical form (`domain::email::canonical`); rows written before it was used
//! hold the address as it was, beside the canonical twin the opt-in migration added, and
//! lookups try both forms.

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::suppressions;
use super::{DbConn, is_unique_violation};
use crate::domain::email::canonical;

/// Adds the address, in its canonical form; unsubscribing twice is fine.
pub fn add(conn: &mut DbConn, email: &str, now: NaiveDateTime) -> QueryResult<()> {
    let inserted = diesel::insert_into(suppressions::table)
        .values((suppressions::email.eq(canonical(email)), suppressions::created_at.eq(now)))
        .execute(conn);
    match inserted {
        Err(e) if !is_unique_violation(&e) => Err(e),
        _ => Ok(()),
    }
}

pub fn contains(conn: &mut DbConn, email: &str) -> QueryResult<bool> {
    Ok(!among(conn, &[email])?.is_empty())
}

/// The addresses among `emails` (as given) that unsubscribed, under this spelling or any alias.
pub fn among(conn: &mut DbConn, emails: &[&str]) -> QueryResult<HashSet<String>> {
    let mut keys: Vec<String> = emails.iter().map(|e| canonical(e)).collect();
    keys.extend(emails.iter().map(|e| (*e).to_owned()));
    keys.sort();
    keys.dedup();
    let mut found = HashSet::new();
    // Bounded lists keep every `IN (...)` under SQLite's bind limit.
    for chunk in keys.chunks(5_000) {
        found.extend(
            suppressions::table
                .filter(suppressions::email.eq_any(chunk))
                .select(suppressions::email)
                .load::<String>(conn)?,
        );
    }
    Ok(emails
        .iter()
        .filter(|e| found.contains(**e) || found.contains(&canonical(e)))
        .map(|e| (*e).to_owned())
        .collect())
}
