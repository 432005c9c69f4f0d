//! Tests that need PostgreSQL: a database cut off over the network (SQLite is a file and cannot
//! be), and the schemas the twin migrations produce (which compares both backends).
//!
//! They are `#[ignore]`d, so that a run on SQLite reports them as ignored instead of as passed,
//! and they all sit under this module so that one filter selects them and nothing else that is
//! ignored (the SMTP throughput measurement is too). CI's PostgreSQL step runs them with
//! `TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo test --test api -- --ignored postgres_only`.

mod database_cut;
mod erasure_during_fanout;
mod pool_reuse;
mod schema_twins;

/// The admin URL of the PostgreSQL server under test; panics, saying what to set, without one.
fn postgres_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
        .expect("this test needs PostgreSQL: set TEST_DATABASE_URL=postgres://…")
}
