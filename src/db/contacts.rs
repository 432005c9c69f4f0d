//! A user's contacts: the people told of their answers.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
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
