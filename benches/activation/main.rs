//! Activation benchmark: seeds N users with fresh locations (M of them inside a 10 km circle
//! around Paris, the rest spread over the world), activates an incident over the circle through
//! the real HTTP API, and reports the time until the last prompt (and its outbox row) exists.
//! Beside it, the ceilings: the same rows inserted by raw SQL in one transaction (COPY on
//! PostgreSQL, multi-row INSERTs on SQLite), prompts alone and prompts with their outbox rows.
//!
//! cargo bench --bench activation -- --backend sqlite --users 1000000 --inside 100000
//! cargo bench --bench activation -- --backend postgres --users 1000000 --inside 100000

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark fails loudly")]

mod seed;

use std::time::{Duration, Instant};

use safecheck::clock::SystemClock;
use safecheck::config::Config;
use safecheck::db::{self, DatabaseUrl};
use safecheck::startup::Application;
use serde_json::{Value, json};

const CENTER: (f64, f64) = (48.8566, 2.3522);
const RADIUS_M: f64 = 10_000.0;

struct Args {
    backend: String,
    users: usize,
    inside: usize,
    admin_url: String,
}

fn args() -> Args {
    let mut args = Args {
        backend: "sqlite".into(),
        users: 1_000_000,
        inside: 100_000,
        admin_url: std::env::var("BENCH_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
    };
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < raw.len() {
        let value = raw.get(i + 1).cloned().unwrap_or_default();
        match raw[i].as_str() {
            "--backend" => args.backend = value,
            "--users" => args.users = value.parse().expect("--users N"),
            "--inside" => args.inside = value.parse().expect("--inside N"),
            "--bench" => {
                i += 1;
                continue;
            }
            _ => {}
        }
        i += 2;
    }
    assert!(args.inside <= args.users, "--inside must not exceed --users");
    args
}

#[tokio::main]
async fn main() {
    let args = args();
    let dir = tempfile::tempdir().unwrap();
    let (url, pg_name) = match args.backend.as_str() {
        "sqlite" => (DatabaseUrl::Sqlite(dir.path().join("bench.db")), None),
        "postgres" => {
            let name = format!("safecheck_bench_{}", uuid::Uuid::new_v4().simple());
            seed::create_pg_database(&args.admin_url, &name);
            let base = args.admin_url.rsplit_once('/').map_or(args.admin_url.as_str(), |(b, _)| b).to_owned();
            (DatabaseUrl::Postgresql(format!("{base}/{name}")), Some(name))
        }
        other => panic!("--backend sqlite|postgres, not {other}"),
    };
    db::prepare(&url).unwrap();
    println!("backend: {}; users: {}; inside: {}", args.backend, args.users, args.inside);

    let started = Instant::now();
    let seed_url = url.clone();
    let (users, inside) = (args.users, args.inside);
    tokio::task::spawn_blocking(move || {
        seed::users_and_locations(&seed_url, users, inside, CENTER, RADIUS_M)
    })
    .await
    .unwrap();
    println!("seeded in {:.1} s", started.elapsed().as_secs_f64());

    let (activation, prompted, incident_id, server) = activate(&url, dir.path()).await;
    assert_eq!(prompted, args.inside as i64, "every user inside got exactly one prompt");
    println!(
        "activation: {prompted} prompts in {:.2} s ({:.0} prompts/s), from POST to the last prompt",
        activation.as_secs_f64(),
        prompted as f64 / activation.as_secs_f64()
    );

    operator_reads(&server, &incident_id).await;

    let ceiling_url = url.clone();
    let (prompts_only, with_outbox) =
        tokio::task::spawn_blocking(move || seed::raw_inserts(&ceiling_url, &incident_id)).await.unwrap();
    let ratio = |ceiling: Duration| activation.as_secs_f64() / ceiling.as_secs_f64();
    println!(
        "ceiling, prompt rows alone by raw SQL: {:.2} s (activation/ceiling = {:.2})",
        prompts_only.as_secs_f64(),
        ratio(prompts_only)
    );
    println!(
        "ceiling, prompt rows and their outbox rows by raw SQL: {:.2} s (activation/ceiling = {:.2})",
        with_outbox.as_secs_f64(),
        ratio(with_outbox)
    );
    println!(
        "| {} | {} | {} | {:.2} s | {:.2} s ({:.2}x) | {:.2} s ({:.2}x) |",
        args.backend,
        args.users,
        args.inside,
        activation.as_secs_f64(),
        prompts_only.as_secs_f64(),
        ratio(prompts_only),
        with_outbox.as_secs_f64(),
        ratio(with_outbox)
    );
    if let Some(name) = pg_name {
        seed::drop_pg_database(&args.admin_url, &name);
    }
}

/// A running server and an operator's token for it.
struct Server {
    base: String,
    token: String,
    client: reqwest::Client,
}

/// What an operator reads after activation, timed: the first page of people, a page deep in
/// the list, and the whole list as CSV.
async fn operator_reads(server: &Server, id: &str) {
    let people = format!("{}/v1/incidents/{id}/people", server.base);
    let started = Instant::now();
    let first: Value = server
        .client
        .get(format!("{people}?limit=200"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    println!("people, first page of 200: {:.3} s", started.elapsed().as_secs_f64());
    let cursor = first["next_cursor"].as_str().unwrap_or_default();
    let started = Instant::now();
    let second = server
        .client
        .get(format!("{people}?limit=200&cursor={cursor}"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 200);
    println!("people, next page of 200: {:.3} s", started.elapsed().as_secs_f64());
    let started = Instant::now();
    let csv = server
        .client
        .get(&people)
        .bearer_auth(&server.token)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    println!(
        "people, CSV export: {} rows, {:.1} MB in {:.2} s",
        csv.lines().count() - 1,
        csv.len() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
}

/// Starts the real server, logs in as an operator, activates over the circle and waits for the
/// fan-out to complete. Returns the time from the POST to completion, the prompt count, the
/// incident and the server.
async fn activate(url: &DatabaseUrl, data_dir: &std::path::Path) -> (Duration, i64, String, Server) {
    let database_url = match url {
        DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
        DatabaseUrl::Postgresql(url) => url.clone(),
    };
    let env = [
        ("SAFECHECK_DATABASE_URL", database_url),
        ("SAFECHECK_LISTEN", "127.0.0.1:0".to_owned()),
        ("SAFECHECK_DATA_DIR", data_dir.display().to_string()),
        ("SAFECHECK_JWT_SECRET", "bench-secret-bench-secret-bench-secret-0001".to_owned()),
        ("SAFECHECK_ARGON2_MEMORY_KIB", "256".to_owned()),
        ("SAFECHECK_ARGON2_ITERATIONS", "1".to_owned()),
        // Only the fan-out: delivering the prompt emails is measured by the delivery benchmark.
        ("SAFECHECK_JOBS", "fanout".to_owned()),
    ];
    let config =
        Config::from_lookup(|name| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())).unwrap();
    let operator_url = url.clone();
    tokio::task::spawn_blocking(move || {
        seed::operator(&operator_url, "operator@bench.test", "bench password")
    })
    .await
    .unwrap();
    let app = Application::build_with_clock(config, std::sync::Arc::new(SystemClock)).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({ "email": "operator@bench.test", "password": "bench password" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    let body = json!({
        "title": "Benchmark",
        "area": { "type": "Circle", "center": { "lat": CENTER.0, "lon": CENTER.1 }, "radius_m": RADIUS_M }
    });
    let started = Instant::now();
    let created: Value = client
        .post(format!("{base}/v1/incidents"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().expect("incident created").to_owned();
    loop {
        let incident: Value = client
            .get(format!("{base}/v1/incidents/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if incident["fanout"]["complete"] == true {
            let elapsed = started.elapsed();
            let prompts = incident["fanout"]["prompts_created"].as_i64().unwrap();
            return (elapsed, prompts, id, Server { base, token, client });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
