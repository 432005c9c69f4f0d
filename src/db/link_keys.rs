//! Keys that sign links in emails, kept in the database so every process signs and checks with
//! the same one.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::schema::link_keys;

/// The secret named `name`: the stored one, or `fresh` stored now if there is none yet. Two
/// processes starting together both end up with whichever was stored first.
pub fn get_or_create(conn: &mut DbConn, name: &str, fresh: &str, now: NaiveDateTime) -> QueryResult<String> {
    let create = diesel::insert_into(link_keys::table)
        .values((link_keys::name.eq(name), link_keys::secret.eq(fresh), link_keys::created_at.eq(now)))
        .on_conflict_do_nothing();
    // MultiConnection has no upsert: the same statement on the inner connection.
    match conn {
        DbConn::Postgresql(pg) => create.execute(pg)?,
        DbConn::Sqlite(lite) => create.execute(lite)?,
    };
    link_keys::table.find(name).select(link_keys::secret).first(conn)
}
