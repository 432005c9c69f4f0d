//! The audit log: who did what, when, to which incident.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::schema::audit_log;

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: String,
    pub at: NaiveDateTime,
    pub actor_id: Option<String>,
    pub actor_email: Option<String>,
    pub action: String,
    pub incident_id: Option<String>,
    /// JSON: what was done (title, area, counts, reason).
    pub details: String,
}

pub fn record(conn: &mut DbConn, row: &AuditRow) -> QueryResult<()> {
    diesel::insert_into(audit_log::table).values(row).execute(conn).map(|_| ())
}

/// Newest first, continuing after `(at, id)`.
pub fn page(
    conn: &mut DbConn,
    after: Option<&(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<AuditRow>> {
    let mut query = audit_log::table.select(AuditRow::as_select()).into_boxed();
    if let Some((at, id)) = after {
        query =
            query.filter(audit_log::at.lt(*at).or(audit_log::at.eq(*at).and(audit_log::id.lt(id.clone()))));
    }
    query.order((audit_log::at.desc(), audit_log::id.desc())).limit(limit).load(conn)
}
