//! A database of the test's own: a temp-dir SQLite file, or (with `TEST_DATABASE_URL`) a fresh
//! PostgreSQL database, created here and dropped when the test ends.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

pub enum TestDb {
    Sqlite { url: String },
    Postgres { admin_url: String, name: String, authority: String },
}

impl TestDb {
    /// `dir` holds the SQLite file.
    pub fn create(dir: &std::path::Path) -> Self {
        match std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
            None => TestDb::Sqlite { url: format!("sqlite://{}", dir.join("test.db").display()) },
            Some(admin_url) => {
                let name = format!("safecheck_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::establish(&admin_url).expect("connect to TEST_DATABASE_URL");
                conn.batch_execute(&format!("CREATE DATABASE \"{name}\"")).expect("create test database");
                let authority = split_url(&admin_url).1.to_owned();
                TestDb::Postgres { admin_url, name, authority }
            }
        }
    }

    /// The URL the app should use; `via` replaces PostgreSQL's host:port (for the proxy).
    pub fn url(&self, via: Option<&str>) -> String {
        match self {
            TestDb::Sqlite { url } => url.clone(),
            TestDb::Postgres { admin_url, name, .. } => {
                let (scheme, authority, _path, query) = split_url(admin_url);
                let authority = match via {
                    Some(host_port) => match authority.rsplit_once('@') {
                        Some((user, _)) => format!("{user}@{host_port}"),
                        None => host_port.to_owned(),
                    },
                    None => authority.to_owned(),
                };
                format!("{scheme}://{authority}/{name}{query}")
            }
        }
    }

    /// host:port of PostgreSQL, for the proxy's target.
    pub fn pg_host_port(&self) -> Option<String> {
        match self {
            TestDb::Postgres { authority, .. } => {
                let host = authority.rsplit_once('@').map_or(authority.as_str(), |(_, h)| h);
                Some(if host.contains(':') { host.to_owned() } else { format!("{host}:5432") })
            }
            TestDb::Sqlite { .. } => None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { admin_url, name, .. } = self
            && let Ok(mut conn) = PgConnection::establish(admin_url)
        {
            let drop_sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            // Best effort: a leftover database is harmless, a panic in drop is not.
            let _ = conn.batch_execute(&drop_sql);
        }
    }
}

/// scheme, authority, path, query (with its `?`).
fn split_url(url: &str) -> (&str, &str, &str, &str) {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let (rest, query) = match rest.find('?') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    (scheme, authority, path, query)
}
