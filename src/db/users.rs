//! Queries on users (and the erasure of everything a user owns).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::schema::{prompts, users};
use crate::domain::{Locale, Role};

/// A user row. Never serialized to clients; routes map it to a DTO.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub display_name: String,
    #[diesel(serialize_as = String)]
    pub locale: Locale,
    #[diesel(serialize_as = String)]
    pub role: Role,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Inserts a user with the canonical form of their address (`domain::email::canonical`); a
/// taken address is a unique violation, on `users_email_key` or, for another spelling of a
/// mailbox that has an account, on `users_email_canonical_key`.
pub fn insert(conn: &mut DbConn, user: &UserRow, email_canonical: &str) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values((user.clone(), users::email_canonical.eq(email_canonical)))
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<UserRow>> {
    users::table.find(id).select(UserRow::as_select()).first(conn).optional()
}

/// The user and when their sessions were last ended (tokens issued before are refused).
pub fn find_with_sessions_valid_after(
    conn: &mut DbConn,
    id: &str,
) -> QueryResult<Option<(UserRow, Option<NaiveDateTime>)>> {
    users::table.find(id).select((UserRow::as_select(), users::sessions_valid_after)).first(conn).optional()
}

/// Ends every access token issued before `at`.
pub fn set_sessions_valid_after(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(users::table.find(id)).set(users::sessions_valid_after.eq(at)).execute(conn)
}

pub fn find_by_email(conn: &mut DbConn, email: &str) -> QueryResult<Option<UserRow>> {
    users::table.filter(users::email.eq(email)).select(UserRow::as_select()).first(conn).optional()
}

/// Changes the profile fields given; returns the updated row, `None` if the user is gone.
pub fn update_profile(
    conn: &mut DbConn,
    id: &str,
    display_name: Option<&str>,
    locale: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<Option<UserRow>> {
    conn.transaction(|conn| {
        if let Some(name) = display_name {
            diesel::update(users::table.find(id)).set(users::display_name.eq(name)).execute(conn)?;
        }
        if let Some(locale) = locale {
            diesel::update(users::table.find(id)).set(users::locale.eq(locale)).execute(conn)?;
        }
        diesel::update(users::table.find(id)).set(users::updated_at.eq(now)).execute(conn)?;
        find(conn, id)
    })
}

/// Replaces the password hash.
pub fn set_password_hash(conn: &mut DbConn, id: &str, hash: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((users::password_hash.eq(hash), users::updated_at.eq(now)))
        .execute(conn)
}

/// Sets `updated_at`: the first write of a transaction that reads the row and then changes it.
pub fn touch(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(users::table.find(id)).set(users::updated_at.eq(now)).execute(conn)
}

/// Sets the role; returns the updated row, `None` if no such user.
pub fn set_role(conn: &mut DbConn, id: &str, role: Role, now: NaiveDateTime) -> QueryResult<Option<UserRow>> {
    conn.transaction(|conn| {
        diesel::update(users::table.find(id))
            .set((users::role.eq(role.as_str()), users::updated_at.eq(now)))
            .execute(conn)?;
        find(conn, id)
    })
}

/// Erases the user; their location, contacts and tokens go with them (ON DELETE CASCADE), and
/// their prompts, which PostgreSQL does not tie to users by a key (migration 000016).
///
/// On PostgreSQL a fan-out chunk may be inserting this user's prompt, from a walk made before:
/// the erasure first takes the active incidents' rows FOR SHARE, which waits for a chunk in
/// progress to commit (a chunk writes its incident's row first) and holds the next one back
/// until the erasure has committed, when its insert no longer finds the user. A prompt for
/// the user's own request locks their row instead ([`super::prompts::insert_batch`]), which
/// the `DELETE` of users waits for. SQLite has one writer at a time.
pub fn delete(conn: &mut DbConn, id: &str) -> QueryResult<bool> {
    conn.transaction(|conn| {
        if let DbConn::Postgresql(pg) = conn {
            diesel::sql_query("SELECT id FROM incidents WHERE status = 'active' ORDER BY id FOR SHARE")
                .execute(pg)?;
        }
        let erased = diesel::delete(users::table.find(id)).execute(conn)? > 0;
        diesel::delete(prompts::table.filter(prompts::user_id.eq(id))).execute(conn)?;
        Ok(erased)
    })
}

/// What an email to a user needs: their address, name and language. The language is read as
/// stored, so that one unreadable row fails its own email and not a whole fan-out chunk.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct Recipient {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub locale: String,
}

impl Recipient {
    /// The recipient's language, or, when the stored word is unknown, why their email cannot be
    /// written (and it is logged).
    pub fn language(&self) -> Result<Locale, String> {
        self.locale.parse().map_err(|_| {
            tracing::error!(user = %self.id, locale = %self.locale, "a user's stored locale is unknown");
            format!("the user's stored locale {:?} is unknown", self.locale)
        })
    }
}

/// The users among `ids` that still exist, as recipients.
pub fn recipients(conn: &mut DbConn, ids: &[&str]) -> QueryResult<Vec<Recipient>> {
    users::table.filter(users::id.eq_any(ids)).select(Recipient::as_select()).load(conn)
}
