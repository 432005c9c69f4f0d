//! A user's contacts: the people told of their answers.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::fixed::{Fixed, Param};
use super::invitations::Standing;
use super::schema::{contacts, users};
use crate::domain::Locale;

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = contacts)]
pub struct ContactRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub email: String,
    #[diesel(serialize_as = String)]
    pub locale: Locale,
    pub created_at: NaiveDateTime,
}

pub fn list(conn: &mut DbConn, user_id: &str) -> QueryResult<Vec<ContactRow>> {
    contacts::table
        .filter(contacts::user_id.eq(user_id))
        .order((contacts::created_at.asc(), contacts::id.asc()))
        .select(ContactRow::as_select())
        .load(conn)
}

/// Writes to the user's row, which serialises what follows in the transaction against other
/// transactions doing the same for this user, on both backends (a row lock on PostgreSQL, the
/// write lock on SQLite): a count read afterwards holds until commit.
pub fn lock_user(conn: &mut DbConn, user_id: &str) -> QueryResult<()> {
    diesel::update(users::table.find(user_id)).set(users::updated_at.eq(users::updated_at)).execute(conn)?;
    Ok(())
}

/// Inserts the contact; a unique violation if the user already lists this address.
pub fn insert(conn: &mut DbConn, row: &ContactRow) -> QueryResult<()> {
    diesel::insert_into(contacts::table).values(row.clone()).execute(conn).map(drop)
}

/// Deletes the user's contact; false if they have none with that id.
pub fn delete(conn: &mut DbConn, user_id: &str, id: &str) -> QueryResult<bool> {
    diesel::delete(contacts::table.filter(contacts::id.eq(id)).filter(contacts::user_id.eq(user_id)))
        .execute(conn)
        .map(|n| n > 0)
}

/// [`with_invitations`]' one statement: the contacts, then the user's invitations.
const WITH_INVITATIONS: &str = "SELECT 'contact' AS kind, id, name, email, locale, created_at, \
     NULL AS accepted, NULL AS emailed FROM contacts WHERE user_id = ? \
     UNION ALL SELECT 'invitation', NULL, NULL, email_canonical, NULL, NULL, \
     accepted_at IS NOT NULL, emailed_at IS NOT NULL FROM invitations WHERE user_id = ? \
     ORDER BY kind, created_at, id";

#[derive(QueryableByName)]
struct ContactOrInvitation {
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    id: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    name: Option<String>,
    /// The contact's address as listed, or the invitation's canonical address.
    #[diesel(sql_type = diesel::sql_types::Text)]
    email: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    locale: Option<Locale>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamp>)]
    created_at: Option<NaiveDateTime>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Bool>)]
    accepted: Option<bool>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Bool>)]
    emailed: Option<bool>,
}

/// The user's contacts as [`list`] gives them, and their invitations as
/// `invitations::of_user` does, in one round trip: every answer reads both.
pub fn with_invitations(
    conn: &mut DbConn,
    user_id: &str,
) -> QueryResult<(Vec<ContactRow>, HashMap<String, Standing>)> {
    let statement = Fixed::new(WITH_INVITATIONS, vec![Param::Text(user_id), Param::Text(user_id)]);
    let rows: Vec<ContactOrInvitation> = match conn {
        DbConn::Postgresql(pg) => statement.load(pg)?,
        DbConn::Sqlite(lite) => statement.load(lite)?,
    };
    let mut contacts = Vec::new();
    let mut invitations = HashMap::new();
    for row in rows {
        match (row.kind.as_str(), row.id, row.name, row.locale, row.created_at) {
            ("contact", Some(id), Some(name), Some(locale), Some(created_at)) => contacts.push(ContactRow {
                id,
                user_id: user_id.to_owned(),
                name,
                email: row.email,
                locale,
                created_at,
            }),
            ("invitation", ..) => {
                let standing = Standing {
                    accepted: row.accepted.unwrap_or(false),
                    emailed: row.emailed.unwrap_or(false),
                };
                invitations.insert(row.email, standing);
            }
            _ => {
                return Err(diesel::result::Error::DeserializationError(
                    "a contact row with a column missing".into(),
                ));
            }
        }
    }
    Ok((contacts, invitations))
}
