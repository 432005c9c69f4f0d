//! The connection pool: our own r2d2 manager, which picks the backend from the URL scheme and
//! sets up every SQLite connection the same way.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ManageConnection, Pool, PooledConnection, R2D2Connection};

use super::{DatabaseUrl, DbConn};

/// The pool every request and worker draws from.
pub type DbPool = Pool<DbConnectionManager>;
/// A connection borrowed from the pool.
pub type DbPooled = PooledConnection<DbConnectionManager>;

/// Opens connections of the backend the URL names.
#[derive(Debug)]
pub struct DbConnectionManager {
    url: DatabaseUrl,
}

impl DbConnectionManager {
    pub fn new(url: DatabaseUrl) -> Self {
        Self { url }
    }
}

/// Settings every SQLite connection gets: writers wait for each other instead of failing,
/// foreign keys hold, and WAL with NORMAL sync (durable across process crashes).
const SQLITE_SETUP: &str = "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                            PRAGMA synchronous = NORMAL;";

/// Opens one connection of the URL's backend.
pub fn connect(url: &DatabaseUrl) -> Result<DbConn, ConnectionError> {
    match url {
        DatabaseUrl::Postgresql(url) => PgConnection::establish(url).map(DbConn::Postgresql),
        DatabaseUrl::Sqlite(path) => {
            let path = path
                .to_str()
                .ok_or_else(|| ConnectionError::BadConnection("the SQLite path is not valid UTF-8".into()))?;
            let mut conn = SqliteConnection::establish(path)?;
            conn.batch_execute(SQLITE_SETUP).map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(DbConn::Sqlite(conn))
        }
    }
}

impl ManageConnection for DbConnectionManager {
    type Connection = DbConn;
    type Error = ConnectionError;

    fn connect(&self) -> Result<DbConn, ConnectionError> {
        connect(&self.url)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), ConnectionError> {
        let result = match conn {
            DbConn::Postgresql(c) => c.ping(),
            DbConn::Sqlite(c) => c.ping(),
        };
        result.map_err(ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        match conn {
            DbConn::Postgresql(c) => c.is_broken(),
            DbConn::Sqlite(c) => c.is_broken(),
        }
    }
}

/// Builds the pool without connecting first, so a database that is down at this moment makes
/// requests answer 503 until it is back rather than failing here.
pub fn build_pool(url: &DatabaseUrl, max_size: u32, timeout: Duration) -> DbPool {
    Pool::builder()
        .max_size(max_size)
        .min_idle(Some(1))
        .connection_timeout(timeout)
        .build_unchecked(DbConnectionManager::new(url.clone()))
}
