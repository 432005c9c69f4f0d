//! The connection pool: our own r2d2 manager, which picks the backend from the URL scheme and
//! sets up every SQLite connection the same way.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::{Instrumentation, InstrumentationEvent};

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

/// A connection of the pool, with when it was last handed out and whether a statement has
/// failed on it since. It is used as a [`DbConn`].
pub struct PoolConn {
    conn: DbConn,
    handed_out: Option<Instant>,
    failed: Arc<AtomicBool>,
}

/// Notes on the connection's flag that one of its statements failed.
struct FailureFlag(Arc<AtomicBool>);

impl Instrumentation for FailureFlag {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::FinishQuery { error: Some(_), .. } = event {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

impl Deref for PoolConn {
    type Target = DbConn;

    fn deref(&self) -> &DbConn {
        &self.conn
    }
}

impl DerefMut for PoolConn {
    fn deref_mut(&mut self) -> &mut DbConn {
        &mut self.conn
    }
}

/// A connection handed out this recently, on which no statement has failed since, is handed out
/// again without a round trip to check it: under load that check was one statement of every
/// request's ~20. One idle for longer, or whose last use saw an error (a lost server among
/// them), is pinged first and replaced if the ping fails, so a database restarted meanwhile
/// costs at most the requests that were using its connections (answered 503,
/// `DbError::is_unavailable`).
pub const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

impl ManageConnection for DbConnectionManager {
    type Connection = PoolConn;
    type Error = ConnectionError;

    fn connect(&self) -> Result<PoolConn, ConnectionError> {
        let mut conn = connect(&self.url)?;
        let failed = Arc::new(AtomicBool::new(false));
        let flag = FailureFlag(failed.clone());
        match &mut conn {
            DbConn::Postgresql(c) => c.set_instrumentation(flag),
            DbConn::Sqlite(c) => c.set_instrumentation(flag),
        }
        Ok(PoolConn { conn, handed_out: None, failed })
    }

    fn is_valid(&self, pooled: &mut PoolConn) -> Result<(), ConnectionError> {
        let now = Instant::now();
        let failed = pooled.failed.swap(false, Ordering::Relaxed);
        let recent = pooled.handed_out.is_some_and(|at| now.duration_since(at) < PING_IF_IDLE_FOR);
        if failed || !recent {
            let result = match &mut pooled.conn {
                DbConn::Postgresql(c) => c.ping(),
                DbConn::Sqlite(c) => c.ping(),
            };
            result.map_err(ConnectionError::CouldntSetupConfiguration)?;
        }
        pooled.handed_out = Some(now);
        Ok(())
    }

    fn has_broken(&self, pooled: &mut PoolConn) -> bool {
        match &mut pooled.conn {
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
