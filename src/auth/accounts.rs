//! Accounts: the one way an account is made, whether a person registers over the API or an
//! administrator creates one from the command line.

use chrono::NaiveDateTime;

use crate::db::users::UserRow;
use crate::db::{self, DbConn};
use crate::domain::{DisplayName, Email, Locale, Role};

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

/// Stores the account; a taken email is [`CreateAccountError::EmailTaken`].
pub fn create(
    conn: &mut DbConn,
    account: NewAccount,
    now: NaiveDateTime,
) -> Result<UserRow, CreateAccountError> {
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
    match db::users::insert(conn, &row) {
        Ok(()) => Ok(row),
        Err(e) if db::is_unique_violation(&e) => Err(CreateAccountError::EmailTaken),
        Err(e) => Err(e.into()),
    }
}
