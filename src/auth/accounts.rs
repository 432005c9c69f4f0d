//! Accounts: the one way an account is made, whether a person registers over the API or an
//! administrator creates one from the command line.

use chrono::NaiveDateTime;
use diesel::Connection;
use serde_json::json;

use crate::auth::access_token::Claims;
use crate::db::users::UserRow;
use crate::db::{self, DbConn};
use crate::domain::{DisplayName, Email, Locale, Role};
use crate::incidents::{Actor, audit};

/// Who changes a role, for the audit log.
#[derive(Clone, Copy, Debug)]
pub enum RoleChanger<'a> {
    /// An admin, over the API.
    Admin(&'a Actor),
    /// Whoever runs `safecheck user` on the server (no account: the database itself).
    CommandLine,
}

impl RoleChanger<'_> {
    fn actor(&self) -> Option<&Actor> {
        match self {
            RoleChanger::Admin(actor) => Some(actor),
            RoleChanger::CommandLine => None,
        }
    }

    fn via(&self) -> &'static str {
        match self {
            RoleChanger::Admin(_) => "api",
            RoleChanger::CommandLine => "cli",
        }
    }
}

/// Records a change of `user`'s role from `previous` (none: a new account) in the audit log.
fn audit_role_change(
    conn: &mut DbConn,
    by: RoleChanger<'_>,
    action: &str,
    user: &UserRow,
    previous: Option<Role>,
    now: NaiveDateTime,
) -> diesel::QueryResult<()> {
    let details = json!({
        "user_id": user.id,
        "user_email": user.email,
        "role": user.role.as_str(),
        "previous_role": previous.map(Role::as_str),
        "via": by.via(),
    });
    audit(conn, by.actor(), action, None, details, now)
}

/// What a new account is made of, already validated; its password is hashed by the caller
/// (off the database connection: hashing is slow by design).
pub struct NewAccount {
    pub email: Email,
    pub display_name: DisplayName,
    pub locale: Locale,
    pub role: Role,
    pub password_hash: String,
}

/// Why an account was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateAccountError {
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// Stores the account; a taken email is [`CreateAccountError::EmailTaken`], and so is another
/// spelling of a mailbox that has an account (`Ada+x@`, dots at gmail): one account per mailbox,
/// else one mailbox could be given one prompt email per alias. An account made
/// with more than the user role (only the command line does that) is a grant, audited with it.
pub fn create(
    conn: &mut DbConn,
    account: NewAccount,
    now: NaiveDateTime,
) -> Result<UserRow, CreateAccountError> {
    let email_canonical = account.email.canonical();
    let row = UserRow {
        id: uuid::Uuid::new_v4().to_string(),
        email: account.email.as_str().to_owned(),
        password_hash: account.password_hash,
        display_name: account.display_name.into_inner(),
        locale: account.locale,
        role: account.role,
        created_at: now,
        updated_at: now,
    };
    let stored = conn.transaction(|conn| {
        db::users::insert(conn, &row, &email_canonical)?;
        if row.role != Role::User {
            audit_role_change(conn, RoleChanger::CommandLine, "role.grant", &row, None, now)?;
        }
        Ok(())
    });
    match stored {
        Ok(()) => Ok(row),
        Err(e) if db::is_unique_violation(&e) => Err(CreateAccountError::EmailTaken),
        Err(e) => Err(e.into()),
    }
}

/// Gives the account exactly `role` (roles nest), and audits the change if there is one, in one
/// transaction. `None` if there is no such account.
pub fn grant_role(
    conn: &mut DbConn,
    id: &str,
    role: Role,
    by: RoleChanger<'_>,
    now: NaiveDateTime,
) -> diesel::QueryResult<Option<UserRow>> {
    conn.transaction(|conn| {
        // The write first: it takes the lock (SQLite's, or the row's), so the role read next is
        // the one this grant replaces.
        db::users::touch(conn, id, now)?;
        let Some(before) = db::users::find(conn, id)? else { return Ok(None) };
        let user = db::users::set_role(conn, id, role, now)?;
        if let Some(user) = &user
            && user.role != before.role
        {
            audit_role_change(conn, by, "role.grant", user, Some(before.role), now)?;
        }
        Ok(user)
    })
}

/// Sets a new password hash and ends every session of the account, in one transaction:
/// whoever held a session with the old password must log in again.
pub fn change_password(
    conn: &mut DbConn,
    id: &str,
    hash: &str,
    now: NaiveDateTime,
) -> diesel::QueryResult<()> {
    conn.transaction(|conn| {
        db::users::set_password_hash(conn, id, hash, now)?;
        end_sessions(conn, id, now)
    })
}

/// "Log out everywhere": every refresh token of the account is revoked and every access token
/// issued before now is refused, in one transaction.
pub fn end_all_sessions(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> diesel::QueryResult<()> {
    conn.transaction(|conn| end_sessions(conn, id, now))
}

fn end_sessions(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> diesel::QueryResult<()> {
    db::users::set_sessions_valid_after(conn, id, now)?;
    db::refresh_tokens::revoke_all_for_user(conn, id, now)?;
    Ok(())
}

/// Whether an access token outlived its account's sessions: issued before they were ended.
/// Compared in milliseconds when the token says (`iat_ms`, which ours carry), so that a login
/// just after the change works and a token issued just before it does not; a token with only
/// `iat` (whole seconds) issued in the very second of the change is given the benefit of the
/// doubt, or a login just after the change would be refused.
pub fn token_outlived_sessions(claims: &Claims, sessions_valid_after: Option<NaiveDateTime>) -> bool {
    let Some(after) = sessions_valid_after.map(|a| a.and_utc()) else {
        return false;
    };
    match claims.iat_ms {
        Some(iat_ms) => iat_ms < after.timestamp_millis(),
        None => claims.iat < after.timestamp(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    fn claims(iat_ms: Option<i64>, iat: i64) -> Claims {
        Claims {
            sub: "u".into(),
            role: Role::User,
            iat,
            exp: iat + 900,
            iss: "i".into(),
            aud: "a".into(),
            jti: "j".into(),
            iat_ms,
        }
    }

    #[test]
    fn tokens_issued_before_the_sessions_ended_are_refused_to_the_millisecond() {
        let ended = chrono::DateTime::from_timestamp_millis(1_000_500).unwrap().naive_utc();
        assert!(!token_outlived_sessions(&claims(Some(1_000_400), 1000), None));
        assert!(token_outlived_sessions(&claims(Some(1_000_400), 1000), Some(ended)));
        assert!(!token_outlived_sessions(&claims(Some(1_000_500), 1000), Some(ended)));
        assert!(!token_outlived_sessions(&claims(Some(1_000_600), 1000), Some(ended)));
        // Whole seconds only: the same second is accepted, an earlier one is not.
        assert!(!token_outlived_sessions(&claims(None, 1000), Some(ended)));
        assert!(token_outlived_sessions(&claims(None, 999), Some(ended)));
    }
}

/// Why a role was not taken away.
#[derive(Debug, thiserror::Error)]
pub enum RevokeRoleError {
    #[error("no such account")]
    NotFound,
    #[error("every account has the user role")]
    UserRole,
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// Takes `role` away: an operator becomes a user, an admin an operator, audited in the same
/// transaction. An account without the role is returned unchanged.
pub fn revoke_role(
    conn: &mut DbConn,
    id: &str,
    role: Role,
    by: RoleChanger<'_>,
    now: NaiveDateTime,
) -> Result<UserRow, RevokeRoleError> {
    conn.transaction(|conn| {
        // Touch the row first: the transaction starts with its write (SQLite's lock, a row lock
        // on PostgreSQL), so a concurrent grant cannot interleave.
        db::users::touch(conn, id, now)?;
        let user = db::users::find(conn, id)?.ok_or(RevokeRoleError::NotFound)?;
        let lowered = match role {
            Role::User => return Err(RevokeRoleError::UserRole),
            Role::Operator if user.role.includes(Role::Operator) => Role::User,
            Role::Admin if user.role == Role::Admin => Role::Operator,
            _ => return Ok(user),
        };
        let lowered = db::users::set_role(conn, id, lowered, now)?.ok_or(RevokeRoleError::NotFound)?;
        audit_role_change(conn, by, "role.revoke", &lowered, Some(user.role), now)?;
        Ok(lowered)
    })
}
