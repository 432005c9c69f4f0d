//! Refresh tokens: issue, rotate (with reuse detection), revoke.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::schema::{refresh_tokens, users};

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshTokenRow {
    pub id: String,
    pub family_id: String,
    pub user_id: String,
    pub token_hash: String,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    /// The end of the session this token belongs to, however often it is renewed.
    pub session_expires_at: Option<NaiveDateTime>,
}

impl RefreshTokenRow {
    /// A fresh, unused token of `family_id`, valid until `expires_at` but not past the
    /// session's end.
    pub fn new(
        family_id: &str,
        user_id: &str,
        token_hash: String,
        now: NaiveDateTime,
        expires_at: NaiveDateTime,
        session_expires_at: NaiveDateTime,
    ) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            family_id: family_id.to_owned(),
            user_id: user_id.to_owned(),
            token_hash,
            expires_at: expires_at.min(session_expires_at),
            used_at: None,
            revoked_at: None,
            created_at: now,
            session_expires_at: Some(session_expires_at),
        }
    }

    /// When this token's session ends (tokens older than the column: their own expiry).
    pub fn session_end(&self) -> NaiveDateTime {
        self.session_expires_at.unwrap_or(self.expires_at)
    }
}

pub fn insert(conn: &mut DbConn, row: &RefreshTokenRow) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table).values(row).execute(conn).map(|_| ())
}

/// What presenting a refresh token led to.
#[derive(Debug)]
pub enum Rotation {
    /// The token was valid: it is now used, its successor (expiring at `expires_at`) is stored,
    /// and this is its user.
    Rotated { user_id: String, expires_at: NaiveDateTime },
    /// Unknown, expired or revoked.
    Invalid,
    /// Already used: the whole family is now revoked (a stolen token was replayed).
    Reused,
}

/// Marks the token used and inserts its successor, in one transaction. A token used before (or
/// used concurrently, when the conditional update finds it taken) revokes its family.
pub fn rotate(
    conn: &mut DbConn,
    token_hash: &str,
    successor: impl FnOnce(&RefreshTokenRow) -> RefreshTokenRow,
    now: NaiveDateTime,
) -> QueryResult<Rotation> {
    conn.transaction(|conn| {
        // The first statement, a write, locks the token's user: ending the user's sessions
        // (password change, log out everywhere) writes that row first too, so the two
        // serialise, and a successor inserted here is never missed by the revocation there.
        diesel::update(
            users::table.filter(
                users::id.eq_any(
                    refresh_tokens::table
                        .filter(refresh_tokens::token_hash.eq(token_hash))
                        .select(refresh_tokens::user_id),
                ),
            ),
        )
        .set(users::sessions_valid_after.eq(users::sessions_valid_after))
        .execute(conn)?;
        // The claim: concurrent rotations of one token serialise on it, and exactly one of
        // them wins.
        let claimed = diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::token_hash.eq(token_hash))
                .filter(refresh_tokens::used_at.is_null())
                .filter(refresh_tokens::revoked_at.is_null())
                .filter(refresh_tokens::expires_at.gt(now)),
        )
        .set(refresh_tokens::used_at.eq(now))
        .execute(conn)?;
        let Some(row) = refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(token_hash))
            .select(RefreshTokenRow::as_select())
            .first(conn)
            .optional()?
        else {
            return Ok(Rotation::Invalid);
        };
        if claimed == 1 {
            let next = successor(&row);
            insert(conn, &next)?;
            return Ok(Rotation::Rotated { user_id: row.user_id, expires_at: next.expires_at });
        }
        if row.used_at.is_some() {
            revoke_family(conn, &row.family_id, now)?;
            return Ok(Rotation::Reused);
        }
        Ok(Rotation::Invalid)
    })
}

/// Revokes every token of the family.
pub fn revoke_family(conn: &mut DbConn, family_id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)
}

/// Logout: revokes the family of this token if it belongs to `user_id`. Unknown tokens are a
/// no-op, so logging out twice is harmless. No transaction: a family id never changes, so the
/// read and the (idempotent) revocation cannot race into a wrong result.
pub fn revoke_by_token(
    conn: &mut DbConn,
    user_id: &str,
    token_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let family: Option<String> = refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .filter(refresh_tokens::user_id.eq(user_id))
        .select(refresh_tokens::family_id)
        .first(conn)
        .optional()?;
    if let Some(family) = family {
        revoke_family(conn, &family, now)?;
    }
    Ok(())
}

/// Revokes every token of the user (password change).
pub fn revoke_all_for_user(conn: &mut DbConn, user_id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)
}

/// Deletes tokens that expired before `cutoff` (housekeeping).
pub fn delete_expired(conn: &mut DbConn, cutoff: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(refresh_tokens::table.filter(refresh_tokens::expires_at.lt(cutoff))).execute(conn)
}
