//! Idempotency keys: the first request with a key runs; a retry with the same key and body gets
//! the first response again; the same key with another body, or while the first still runs, is
//! refused.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::idempotency_keys;
use super::{DbConn, is_unique_violation};

/// What a request with a key may do.
#[derive(Debug, PartialEq, Eq)]
pub enum Begin {
    /// First use: run the request, then [`finish`].
    Started,
    /// Done before with this body: replay this response.
    Replay { status: u16, body: String },
    /// Used before with another body.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

/// Claims `key` for this request, or says what happened to it before. Keys expire after
/// `ttl`; a request that has run longer than `abandoned_after` is taken to have died.
pub fn begin(
    conn: &mut DbConn,
    user_id: &str,
    key: &str,
    request_hash: &str,
    now: NaiveDateTime,
    ttl: chrono::Duration,
    abandoned_after: chrono::Duration,
) -> QueryResult<Begin> {
    loop {
        let inserted = diesel::insert_into(idempotency_keys::table)
            .values((
                idempotency_keys::user_id.eq(user_id),
                idempotency_keys::key.eq(key),
                idempotency_keys::request_hash.eq(request_hash),
                idempotency_keys::created_at.eq(now),
            ))
            .execute(conn);
        match inserted {
            Ok(_) => return Ok(Begin::Started),
            Err(e) if is_unique_violation(&e) => {}
            Err(e) => return Err(e),
        }
        let existing: Option<(String, Option<i32>, Option<String>, NaiveDateTime)> = idempotency_keys::table
            .find((user_id, key))
            .select((
                idempotency_keys::request_hash,
                idempotency_keys::response_status,
                idempotency_keys::response_body,
                idempotency_keys::created_at,
            ))
            .first(conn)
            .optional()?;
        let Some((hash, status, body, created_at)) = existing else { continue };
        let expired = created_at + ttl <= now;
        let abandoned = status.is_none() && created_at + abandoned_after <= now;
        if expired || abandoned {
            // Delete exactly the record we saw, then try to claim again.
            diesel::delete(
                idempotency_keys::table
                    .find((user_id, key))
                    .filter(idempotency_keys::created_at.eq(created_at)),
            )
            .execute(conn)?;
            continue;
        }
        return Ok(match (status, body) {
            // Still running: whatever this retry carries, the answer is "not yet".
            (None, _) | (_, None) => Begin::InProgress,
            _ if hash != request_hash => Begin::Mismatch,
            (Some(status), Some(body)) => Begin::Replay {
                status: u16::try_from(status)
                    .map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))?,
                body,
            },
        });
    }
}

/// Stores the response to replay (inside the request's own transaction).
pub fn finish(conn: &mut DbConn, user_id: &str, key: &str, status: u16, body: &str) -> QueryResult<()> {
    diesel::update(idempotency_keys::table.find((user_id, key)))
        .set((
            idempotency_keys::response_status.eq(i32::from(status)),
            idempotency_keys::response_body.eq(body),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Frees the key after a request that failed, so a retry runs again.
pub fn abandon(conn: &mut DbConn, user_id: &str, key: &str) -> QueryResult<()> {
    diesel::delete(
        idempotency_keys::table.find((user_id, key)).filter(idempotency_keys::response_status.is_null()),
    )
    .execute(conn)
    .map(|_| ())
}

/// Deletes up to `batch` keys made before `cutoff` (housekeeping; keys that old are expired and
/// would be replaced anyway).
pub fn delete_before(conn: &mut DbConn, cutoff: NaiveDateTime, batch: i64) -> QueryResult<usize> {
    super::delete_older_batch(conn, ("idempotency_keys", "user_id, key", "created_at"), cutoff, batch)
}
