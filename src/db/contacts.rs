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

/// Why a contact was not added.
#[derive(Debug)]
pub enum AddContact {
    Added,
    LimitReached,
}

/// Adds the contact unless the user already has `max`. The transaction starts with a write to
/// the user's row, which serialises concurrent adds for one user on both backends (a row lock
/// on PostgreSQL, the write lock on SQLite), so the limit holds under races.
pub fn add(conn: &mut DbConn, row: &ContactRow, max: i64) -> QueryResult<AddContact> {
    conn.transaction(|conn| {
        diesel::update(users::table.find(&row.user_id))
            .set(users::updated_at.eq(users::updated_at))
            .execute(conn)?;
        let count: i64 =
            contacts::table.filter(contacts::user_id.eq(&row.user_id)).count().get_result(conn)?;
        if count >= max {
            return Ok(AddContact::LimitReached);
        }
        diesel::insert_into(contacts::table).values(row.clone()).execute(conn)?;
        Ok(AddContact::Added)
    })
}

/// Deletes the user's contact; false if they have none with that id.
pub fn delete(conn: &mut DbConn, user_id: &str, id: &str) -> QueryResult<bool> {
    diesel::delete(contacts::table.filter(contacts::id.eq(id)).filter(contacts::user_id.eq(user_id)))
        .execute(conn)
        .map(|n| n > 0)
}
