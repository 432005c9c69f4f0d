//! What the benchmarks share: a database of their own, the real server run as a child process
//! (so its peak RSS is its own), and percentiles.

#![allow(dead_code, reason = "each benchmark uses a part")]

pub mod server;
pub mod smtp;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use safecheck::db::{self, DatabaseUrl};

/// A fresh database for one benchmark run, dropped (PostgreSQL) or deleted with its folder
/// (SQLite) at the end.
pub struct BenchDb {
    pub url: DatabaseUrl,
    /// The URL as the server's `SAFECHECK_DATABASE_URL` takes it.
    pub env_url: String,
    /// The PostgreSQL database to drop at the end: (admin URL, name); `None` when kept.
    pg: Option<(String, String)>,
    pub dir: tempfile::TempDir,
}

impl BenchDb {
    /// A new database, dropped at the end.
    pub fn create(backend: &str) -> Self {
        Self::open(backend, None)
    }

    /// A database named `kept` that outlives the bench (created when missing): SQLite
    /// `$TMPDIR/safecheck-bench-<kept>.db`, PostgreSQL `safecheck_bench_<kept>`. So a large seed
    /// can be made once (for example while the machine is busy) and measured later.
    pub fn open(backend: &str, kept: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let admin_url = std::env::var("BENCH_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let (url, pg) = match backend {
            "sqlite" => match kept {
                Some(kept) => (
                    DatabaseUrl::Sqlite(std::env::temp_dir().join(format!("safecheck-bench-{kept}.db"))),
                    None,
                ),
                None => (DatabaseUrl::Sqlite(dir.path().join("bench.db")), None),
            },
            "postgres" => {
                let name = match kept {
                    Some(kept) => format!("safecheck_bench_{kept}"),
                    None => format!("safecheck_bench_{}", uuid::Uuid::new_v4().simple()),
                };
                let mut conn = PgConnection::establish(&admin_url).expect("BENCH_DATABASE_URL reachable");
                let exists = diesel::sql_query(format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"))
                    .execute(&mut conn)
                    .expect("list databases")
                    > 0;
                if !exists {
                    conn.batch_execute(&format!("CREATE DATABASE \"{name}\"")).expect("create database");
                }
                let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b).to_owned();
                let drop_at_end = kept.is_none().then(|| (admin_url.clone(), name.clone()));
                (DatabaseUrl::Postgresql(format!("{base}/{name}")), drop_at_end)
            }
            other => panic!("--backend sqlite|postgres, not {other}"),
        };
        db::prepare(&url).expect("migrations");
        let env_url = match &url {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgresql(url) => url.clone(),
        };
        Self { url, env_url, pg, dir }
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.pg
            && let Ok(mut conn) = PgConnection::establish(admin_url)
        {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
        }
    }
}

/// A prompt row as the fan-out writes it (the other columns take their defaults).
#[derive(Insertable)]
#[diesel(table_name = safecheck::db::schema::prompts)]
#[diesel(treat_none_as_default_value = false)]
pub struct NewPrompt<'a> {
    pub incident_id: &'a str,
    pub user_id: &'a str,
    pub source: &'a str,
    pub created_at: chrono::NaiveDateTime,
    /// The email the prompt carries: `queued` as the fan-out writes it, `sent` once delivered.
    pub email_state: Option<&'a str>,
    pub email_next_at: Option<chrono::NaiveDateTime>,
}

/// `POST {url}` with a bearer token and a JSON body; the JSON answer.
pub async fn post_json(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: &serde_json::Value,
) -> serde_json::Value {
    client.post(url).bearer_auth(token).json(body).send().await.unwrap().json().await.unwrap()
}

/// The value below which `p` (0..=1) of the sorted samples lie (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of a few runs' figures.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// `--name value` pairs from the command line (cargo bench adds `--bench`, ignored).
pub fn flag(name: &str) -> Option<String> {
    let raw: Vec<String> = std::env::args().collect();
    raw.iter().position(|a| a == name).and_then(|i| raw.get(i + 1).cloned())
}

pub fn flag_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    flag(name).map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name}: cannot parse {v}")))
}
