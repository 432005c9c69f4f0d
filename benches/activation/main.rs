//! Activation benchmark: seeds N users with fresh locations (M of them inside a 10 km circle
//! around Paris, the rest spread over the world), activates an incident over the circle through
//! the real HTTP API, and reports the time until the last prompt (and its outbox row) exists.
//! Beside it, the ceilings: the same rows inserted by raw SQL in one transaction (COPY on
//! PostgreSQL, multi-row INSERTs on SQLite), prompts alone and prompts with their outbox rows.
//!
//! The server is `safecheck serve` as a child process (fan-out job only), so its peak RSS is its
//! own. `--runs` activates that many incidents over the same users and reports medians.
//!
//! cargo bench --bench activation -- --backend sqlite --users 1000000 --inside 100000 --runs 3
//! cargo bench --bench activation -- --backend postgres --users 1000000 --inside 100000 --runs 3
//!
//! `--kept NAME` seeds into a database that is kept (see `BenchDb::open`) unless it already
//! holds the users, and `--seed-only` stops after seeding: a large seed made once, measured
//! later on a quiet machine (each measurement adds incidents to the kept database).
//! `--no-csv` leaves out the people list's CSV export (at 4,000,000 people on PostgreSQL it
//! takes far longer than the activation itself), so the ceilings after it are reached.
//! `--no-vacuum`: on PostgreSQL, ANALYZE only instead of VACUUM ANALYZE after seeding, as runs
//! before 2026-12-01 19:00 did (see `seed::analyze_and_explain` for what that changes).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark fails loudly")]

#[path = "../common/mod.rs"]
mod common;
mod seed;

use std::time::{Duration, Instant};

use common::server;
use common::{BenchDb, flag_or, median};
use serde_json::{Value, json};

const CENTER: (f64, f64) = (48.8566, 2.3522);
const RADIUS_M: f64 = 10_000.0;

struct Args {
    backend: String,
    users: usize,
    inside: usize,
    runs: usize,
    kept: Option<String>,
    seed_only: bool,
    no_csv: bool,
    /// PostgreSQL: ANALYZE only (see `seed::analyze_and_explain`).
    no_vacuum: bool,
}

fn args() -> Args {
    let args = Args {
        backend: flag_or("--backend", "sqlite".to_owned()),
        users: flag_or("--users", 1_000_000),
        inside: flag_or("--inside", 100_000),
        runs: flag_or("--runs", 3),
        kept: common::flag("--kept"),
        seed_only: std::env::args().any(|a| a == "--seed-only"),
        no_csv: std::env::args().any(|a| a == "--no-csv"),
        no_vacuum: std::env::args().any(|a| a == "--no-vacuum"),
    };
    assert!(args.inside <= args.users, "--inside must not exceed --users");
    args
}

#[tokio::main]
async fn main() {
    let args = args();
    let db = BenchDb::open(&args.backend, args.kept.as_deref());
    println!(
        "backend: {}; users: {}; inside: {}; runs: {}",
        args.backend, args.users, args.inside, args.runs
    );

    let started = Instant::now();
    let seed_url = db.url.clone();
    let (users, inside) = (args.users, args.inside);
    let seeded = tokio::task::spawn_blocking(move || {
        let present = seed::users_present(&seed_url);
        if present == 0 {
            seed::users_and_locations(&seed_url, users, inside, CENTER, RADIUS_M);
            seed::operator(&seed_url, "operator@bench.test", "bench password");
            return false;
        }
        assert_eq!(present, users + 1, "the kept database holds another seed");
        true
    })
    .await
    .unwrap();
    if seeded {
        println!("the kept database is seeded already");
    } else {
        println!("seeded in {:.1} s", started.elapsed().as_secs_f64());
    }
    if args.seed_only {
        return;
    }

    let explain_url = db.url.clone();
    let no_vacuum = args.no_vacuum;
    tokio::task::spawn_blocking(move || {
        let area = safecheck::domain::Area::parse(&circle()).unwrap();
        seed::analyze_and_explain(&explain_url, &area, no_vacuum);
    })
    .await
    .unwrap();

    let mut rows = Vec::new();
    for run in 1..=args.runs {
        println!("--- run {run} of {}", args.runs);
        let (activation, prompted, incident_id, server) = activate(&db, run).await;
        assert_eq!(prompted, args.inside as i64, "every user inside got exactly one prompt");
        println!(
            "activation: {prompted} prompts in {:.2} s ({:.0} prompts/s), from POST to the last prompt; peak RSS {:.0} MB",
            activation.as_secs_f64(),
            prompted as f64 / activation.as_secs_f64(),
            server.process.peak_rss_mb()
        );
        if run == 1 {
            operator_reads(&server, &incident_id, !args.no_csv).await;
        }
        let rss = server.process.peak_rss_mb();
        drop(server);
        let ceiling_url = db.url.clone();
        let (prompts_only, with_outbox) =
            tokio::task::spawn_blocking(move || seed::raw_inserts(&ceiling_url, &incident_id)).await.unwrap();
        println!(
            "ceilings by raw SQL: prompts carrying their emails {:.2} s, with an outbox row each as before {:.2} s",
            prompts_only.as_secs_f64(),
            with_outbox.as_secs_f64()
        );
        rows.push([activation.as_secs_f64(), prompts_only.as_secs_f64(), with_outbox.as_secs_f64(), rss]);
    }
    let m = |i: usize| median(&rows.iter().map(|r| r[i]).collect::<Vec<_>>());
    let (activation, prompts_only, with_outbox, rss) = (m(0), m(1), m(2), m(3));
    println!("\nmedians of {} runs:\n", args.runs);
    println!(
        "| backend | users | inside | activation (POST → last prompt) | ceiling: the same rows (prompts carrying their emails) | ceiling: prompts + an outbox row each (the former design) | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {activation:.2} s | {prompts_only:.2} s ({:.2}x) | {with_outbox:.2} s ({:.2}x) | {rss:.0} MB |",
        args.backend,
        args.users,
        args.inside,
        activation / prompts_only,
        activation / with_outbox,
    );
}

/// The activated area: a 10 km circle around Paris.
fn circle() -> Value {
    json!({ "type": "Circle", "center": { "lat": CENTER.0, "lon": CENTER.1 }, "radius_m": RADIUS_M })
}

/// A running server and an operator's token for it.
struct Server {
    base: String,
    token: String,
    client: reqwest::Client,
    process: server::Server,
}

/// What an operator reads after activation, timed: the first page of people, a page deep in
/// the list, and the whole list as CSV.
async fn operator_reads(server: &Server, id: &str, csv: bool) {
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
    if !csv {
        println!("people, CSV export: not measured (--no-csv)");
        return;
    }
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

/// Starts the real server (fan-out job only), logs in as an operator, activates over the
/// circle and waits for the fan-out to complete. Returns the time from the POST to completion,
/// the prompt count, the incident and the server.
async fn activate(db: &BenchDb, run: usize) -> (Duration, i64, String, Server) {
    // Only the fan-out: delivering the prompt emails is measured by the delivery benchmark.
    // SAFECHECK_FANOUT_CHUNK passes through to the server when set, to compare chunk sizes.
    let mut extra = vec![("SAFECHECK_JOBS", "fanout".to_owned())];
    if let Ok(chunk) = std::env::var("SAFECHECK_FANOUT_CHUNK") {
        extra.push(("SAFECHECK_FANOUT_CHUNK", chunk));
    }
    let env = server::env(&db.env_url, db.dir.path(), &extra);
    let process = server::Server::serve(&env, &db.dir.path().join(format!("serve-{run}.log"))).await;
    let base = process.base.clone();
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
    let body = json!({ "title": "Benchmark", "area": circle() });
    let started = Instant::now();
    let created = common::post_json(&client, &format!("{base}/v1/incidents"), &token, &body).await;
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
            return (elapsed, prompts, id, Server { base, token, client, process });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
