//! The database: one connection type over SQLite and PostgreSQL, its pool and its migrations.

mod pool;
pub mod schema;
mod stored;

pub use stored::UnknownStoredValue;

pub use pool::{DbConnectionManager, DbPool, DbPooled, build_pool, connect as pool_connect};

use std::path::PathBuf;

use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// Either backend, chosen by the URL scheme (never by `DbConn::establish`'s probing).
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// Which backend a connection speaks, for the few queries that must differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgresql,
    Sqlite,
}

impl DbConn {
    /// The backend of this connection.
    pub fn backend(&self) -> Backend {
        match self {
            DbConn::Postgresql(_) => Backend::Postgresql,
            DbConn::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// Raw SQL written with PostgreSQL's `$1` placeholders, in the connection's own syntax
/// (SQLite numbers them `?1`).
pub fn native_placeholders(conn: &DbConn, sql: &str) -> String {
    match conn {
        DbConn::Postgresql(_) => sql.to_owned(),
        DbConn::Sqlite(_) => sql.replace('$', "?"),
    }
}

/// Deletes up to `batch` rows of `table` whose `column` is before `cutoff`, chosen by `key` (its
/// primary key, as a row value): one bounded statement for housekeeping. The outer test of
/// `column` is repeated so that a row renewed meanwhile is kept (PostgreSQL re-checks the outer
/// condition on the newest version of a row it is about to delete).
fn delete_older_batch(
    conn: &mut DbConn,
    (table, key, column): (&str, &str, &str),
    cutoff: chrono::NaiveDateTime,
    batch: i64,
) -> diesel::QueryResult<usize> {
    use diesel::RunQueryDsl;
    use diesel::sql_types::{BigInt, Timestamp};
    diesel::sql_query(delete_batch_sql(conn, table, key, column))
        .bind::<Timestamp, _>(cutoff)
        .bind::<BigInt, _>(batch)
        .execute(conn)
}

/// As [`delete_older_batch`], for a `column` of BIGINT (a time in microseconds).
fn delete_lower_batch(
    conn: &mut DbConn,
    (table, key, column): (&str, &str, &str),
    cutoff: i64,
    batch: i64,
) -> diesel::QueryResult<usize> {
    use diesel::RunQueryDsl;
    use diesel::sql_types::BigInt;
    diesel::sql_query(delete_batch_sql(conn, table, key, column))
        .bind::<BigInt, _>(cutoff)
        .bind::<BigInt, _>(batch)
        .execute(conn)
}

fn delete_batch_sql(conn: &DbConn, table: &str, key: &str, column: &str) -> String {
    let sql = format!(
        "DELETE FROM {table} WHERE {column} < $1 AND ({key}) IN \
         (SELECT {key} FROM {table} WHERE {column} < $1 LIMIT $2)"
    );
    native_placeholders(conn, &sql)
}

/// A parsed `SAFECHECK_DATABASE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH` (relative) or `sqlite:///ABSOLUTE/PATH`.
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`, passed to libpq as is.
    Postgresql(String),
}

impl std::fmt::Debug for DatabaseUrl {
    // Never print a PostgreSQL URL: it may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgresql(_) => f.write_str("postgres://[redacted]"),
        }
    }
}

impl DatabaseUrl {
    /// Accepts `sqlite://`, `postgres://` and `postgresql://` URLs; anything else is an error
    /// that says what is accepted.
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("a sqlite:// URL needs a file path, as in sqlite://data/safecheck.db".into());
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgresql(url.to_owned()));
        }
        Err("must start with sqlite:// or postgres:// (postgresql:// also works)".into())
    }

    /// What to show in logs: the backend and, for SQLite, the file.
    pub fn describe(&self) -> String {
        format!("{self:?}")
    }
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Applies every pending migration; returns the names of those applied now.
pub fn run_migrations(conn: &mut DbConn) -> anyhow::Result<Vec<String>> {
    let applied = match conn {
        DbConn::Postgresql(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
    }
    .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
    Ok(applied.iter().map(ToString::to_string).collect())
}

/// Reverts every applied migration, newest first (tests and `migrate --revert-all`).
pub fn revert_all_migrations(conn: &mut DbConn) -> anyhow::Result<Vec<String>> {
    let reverted = match conn {
        DbConn::Postgresql(c) => c.revert_all_migrations(POSTGRES_MIGRATIONS),
        DbConn::Sqlite(c) => c.revert_all_migrations(SQLITE_MIGRATIONS),
    }
    .map_err(|e| anyhow::anyhow!("migration revert failed: {e}"))?;
    Ok(reverted.iter().map(ToString::to_string).collect())
}

/// Opens one connection, switches SQLite to WAL and migrates, before any pool exists: a pool
/// opened first would race its own connections for the journal mode.
pub fn prepare(url: &DatabaseUrl) -> anyhow::Result<Vec<String>> {
    let mut conn = pool::connect(url)?;
    if let DbConn::Sqlite(c) = &mut conn {
        diesel::sql_query("PRAGMA journal_mode = WAL").execute(c)?;
    }
    run_migrations(&mut conn)
}

/// Why a database call failed, as the HTTP edge needs to know it.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had in time: the database is down or overloaded.
    #[error("database unavailable")]
    Unavailable(#[source] diesel::r2d2::PoolError),
    /// A query failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

impl DbError {
    /// True when the failure says the database went away rather than the query was wrong.
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        // SQLite's writer lock held past the busy timeout: the database is overloaded, not wrong.
        if let DbError::Query(Error::DatabaseError(DatabaseErrorKind::Unknown, info)) = self {
            let message = info.message();
            if message.contains("database is locked") || message.contains("database is busy") {
                return true;
            }
        }
        matches!(
            self,
            DbError::Unavailable(_)
                | DbError::Query(
                    Error::DatabaseError(
                        DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                        _,
                    ) | Error::BrokenTransactionManager
                )
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_choose_the_backend_by_scheme() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/x.db").unwrap(),
            DatabaseUrl::Sqlite("data/x.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/x.db").unwrap(),
            DatabaseUrl::Sqlite("/tmp/x.db".into())
        );
        assert!(matches!(DatabaseUrl::parse("postgres://u@h/db"), Ok(DatabaseUrl::Postgresql(_))));
        assert!(DatabaseUrl::parse("data/x.db").is_err());
        assert!(DatabaseUrl::parse("mysql://h/db").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn debug_never_shows_a_postgres_password() {
        let url = DatabaseUrl::parse("postgres://u:hunter2@h/db").unwrap();
        assert!(!format!("{url:?}").contains("hunter2"));
    }
}

pub mod answers;
pub mod audit;
pub mod check_ins;
pub mod contacts;
pub mod fixed;
pub mod group_commit;
pub mod idempotency;
pub mod incident_summaries;
pub mod incidents;
pub mod invitations;
pub mod link_keys;
pub mod locations;
pub mod notices;
pub mod notifications;
pub mod people;
pub mod prompt_emails;
pub mod prompts;
pub mod recipient_hours;
pub mod refresh_tokens;
pub mod suppressions;
pub mod throttle_counters;
pub mod user_allowances;
pub mod users;

/// Whether the query broke a unique constraint. Callers know which one their statement can
/// break (ids are random UUIDs), and map it to the field at fault.
pub fn is_unique_violation(error: &diesel::result::Error) -> bool {
    matches!(
        error,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}
