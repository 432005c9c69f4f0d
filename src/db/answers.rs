//! An answer's own writes on PostgreSQL in one prepared statement: the user's prompt (made if
//! they answered unprompted, closed as answered), the check-in, their current answer, and what
//! the rest of the answer needs (the incident's status and title, the previous answer, the
//! user's name). SQLite runs the same steps one by one, each a function call there, not a round
//! trip. Every statement's text is fixed, so each connection prepares it once.

use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text};

use super::DbConn;
use super::check_ins::CheckInRow;
use super::fixed::{Fixed, Param};
use crate::domain::{IncidentStatus, PromptSource};

/// What the statement read, as of the statement's start.
#[derive(Debug, QueryableByName)]
pub struct Written {
    /// The incident's status: when it is not active, nothing was written.
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Text)]
    pub title: String,
    /// A drill.
    #[diesel(sql_type = Bool)]
    pub exercise: bool,
    /// Whether contacts are emailed the answer.
    #[diesel(sql_type = Bool)]
    pub notify_contacts: bool,
    /// The user's answer before this one.
    #[diesel(sql_type = Nullable<Text>)]
    pub previous: Option<String>,
    /// None: the account is gone.
    #[diesel(sql_type = Nullable<Text>)]
    pub user_name: Option<String>,
}

/// Each parameter is bound once, named in `a`. Data-modifying CTEs all run on the statement's snapshot,
/// so `previous` is the answer before this one; each write runs only while the incident is
/// active, and the transaction is rolled back when it is not. The prompt takes the user's row
/// `FOR KEY SHARE`, as `prompts::insert_batch` does: prompts have no foreign keys on
/// PostgreSQL, and erasing an account waits for this transaction.
const ANSWER: &str = "WITH a AS (SELECT ?::text AS incident_id, ?::text AS user_id, ?::text AS check_in_id,
  ?::text AS status, ?::text AS message, ?::timestamp AS now, ?::text AS source, ?::text AS active),
inc AS (SELECT i.status, i.title, i.exercise, i.notify_contacts FROM incidents i, a WHERE i.id = a.incident_id),
prev AS (SELECT r.status FROM responses r, a WHERE r.incident_id = a.incident_id AND r.user_id = a.user_id),
u AS (SELECT users.id, users.display_name FROM users, a WHERE users.id = a.user_id FOR KEY SHARE OF users),
p AS (
  INSERT INTO prompts (incident_id, user_id, source, created_at, closed_at, closed_reason)
  SELECT a.incident_id, u.id, a.source, a.now, a.now, 'answered' FROM a, u, inc WHERE inc.status = a.active
  ON CONFLICT (incident_id, user_id) DO UPDATE SET closed_at = EXCLUDED.closed_at, closed_reason = EXCLUDED.closed_reason
  WHERE prompts.closed_at IS NULL),
c AS (
  INSERT INTO check_ins (id, incident_id, user_id, status, message, created_at)
  SELECT a.check_in_id, a.incident_id, a.user_id, a.status, a.message, a.now FROM a, inc WHERE inc.status = a.active),
r AS (
  INSERT INTO responses (incident_id, user_id, status, message, check_in_id, answered_at)
  SELECT a.incident_id, a.user_id, a.status, a.message, a.check_in_id, a.now FROM a, inc WHERE inc.status = a.active
  ON CONFLICT (incident_id, user_id) DO UPDATE SET status = EXCLUDED.status, message = EXCLUDED.message,
    check_in_id = EXCLUDED.check_in_id, answered_at = EXCLUDED.answered_at)
SELECT inc.status, inc.title, inc.exercise, inc.notify_contacts, (SELECT status FROM prev) AS previous, (SELECT display_name FROM u) AS user_name FROM inc";

/// Writes the answer if the incident is active; None if there is no such incident.
pub fn write(conn: &mut DbConn, check_in: &CheckInRow) -> QueryResult<Option<Written>> {
    match conn {
        DbConn::Postgresql(pg) => write_postgres(pg, check_in),
        DbConn::Sqlite(lite) => write_sqlite(lite, check_in),
    }
}

fn write_postgres(conn: &mut PgConnection, check_in: &CheckInRow) -> QueryResult<Option<Written>> {
    Fixed::new(
        ANSWER,
        vec![
            Param::Text(&check_in.incident_id),
            Param::Text(&check_in.user_id),
            Param::Text(&check_in.id),
            Param::Text(check_in.status.as_str()),
            Param::NullableText(check_in.message.as_deref()),
            Param::Timestamp(check_in.created_at),
            Param::Text(PromptSource::CheckIn.as_str()),
            Param::Text(IncidentStatus::Active.as_str()),
        ],
    )
    .get_result(conn)
    .optional()
}

/// SQLite: the prompt made or closed, as on PostgreSQL. The `WHERE` lets SQLite parse the
/// upsert after a `SELECT`.
const PROMPT_ANSWERED: &str = "INSERT INTO prompts (incident_id, user_id, source, created_at, closed_at, closed_reason) \
     SELECT ?, id, ?, ?, ?, 'answered' FROM users WHERE id = ? \
     ON CONFLICT (incident_id, user_id) DO UPDATE SET closed_at = excluded.closed_at, \
     closed_reason = excluded.closed_reason WHERE prompts.closed_at IS NULL";

const CHECK_IN: &str =
    "INSERT INTO check_ins (id, incident_id, user_id, status, message, created_at) VALUES (?, ?, ?, ?, ?, ?)";

const INCIDENT: &str = "SELECT status, title, exercise, notify_contacts FROM incidents WHERE id = ?";

/// The previous answer and the user's name, read before the answer is made current.
const PREVIOUS: &str = "SELECT (SELECT status FROM responses WHERE incident_id = ? AND user_id = ?) AS previous, \
     (SELECT display_name FROM users WHERE id = ?) AS user_name";

const CURRENT: &str = "INSERT INTO responses (incident_id, user_id, status, message, check_in_id, answered_at) \
     VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (incident_id, user_id) DO UPDATE SET status = excluded.status, \
     message = excluded.message, check_in_id = excluded.check_in_id, answered_at = excluded.answered_at";

#[derive(QueryableByName)]
struct Incident {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Bool)]
    exercise: bool,
    #[diesel(sql_type = Bool)]
    notify_contacts: bool,
}

#[derive(QueryableByName)]
struct Previous {
    #[diesel(sql_type = Nullable<Text>)]
    previous: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    user_name: Option<String>,
}

/// The same steps one by one: each is a function call on SQLite, not a round trip. The first
/// writes (unless the caller's transaction wrote already), taking the write lock before anything
/// is read, so the status read after it holds until commit. Nothing is written for an incident
/// that is not active; the caller rolls back what was.
fn write_sqlite(conn: &mut SqliteConnection, check_in: &CheckInRow) -> QueryResult<Option<Written>> {
    let (incident_id, user_id, now) =
        (check_in.incident_id.as_str(), check_in.user_id.as_str(), check_in.created_at);
    let source = PromptSource::CheckIn.as_str();
    Fixed::new(
        PROMPT_ANSWERED,
        vec![
            Param::Text(incident_id),
            Param::Text(source),
            Param::Timestamp(now),
            Param::Timestamp(now),
            Param::Text(user_id),
        ],
    )
    .execute(conn)?;
    let Some(incident) =
        Fixed::new(INCIDENT, vec![Param::Text(incident_id)]).get_result::<Incident>(conn).optional()?
    else {
        return Ok(None);
    };
    let before =
        Fixed::new(PREVIOUS, vec![Param::Text(incident_id), Param::Text(user_id), Param::Text(user_id)])
            .get_result::<Previous>(conn)?;
    if incident.status == IncidentStatus::Active.as_str() {
        let (status, message) = (check_in.status.as_str(), check_in.message.as_deref());
        Fixed::new(
            CHECK_IN,
            vec![
                Param::Text(&check_in.id),
                Param::Text(incident_id),
                Param::Text(user_id),
                Param::Text(status),
                Param::NullableText(message),
                Param::Timestamp(now),
            ],
        )
        .execute(conn)?;
        Fixed::new(
            CURRENT,
            vec![
                Param::Text(incident_id),
                Param::Text(user_id),
                Param::Text(status),
                Param::NullableText(message),
                Param::Text(&check_in.id),
                Param::Timestamp(now),
            ],
        )
        .execute(conn)?;
    }
    Ok(Some(Written {
        status: incident.status,
        title: incident.title,
        exercise: incident.exercise,
        notify_contacts: incident.notify_contacts,
        previous: before.previous,
        user_name: before.user_name,
    }))
}
