//! Faults: a worker process killed with SIGKILL in the middle of delivering. Every message is
//! delivered after a restart; duplicates only among those in flight at the kill. The size is
//! `FAULT_MESSAGES` (2,000 by default; the 10,000 with FAULT_MESSAGES=10000).

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use secrecy::ExposeSecret;

use crate::helpers::{Options, TEST_JWT_SECRET, TestApp, spawn_app_with};

/// A child process that is killed (SIGKILL) when dropped, also when a test fails half-way, so
/// no server outlives its test.
struct Process(Child);

impl Process {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

fn messages() -> usize {
    std::env::var("FAULT_MESSAGES").ok().and_then(|n| n.parse().ok()).unwrap_or(2_000)
}

/// `safecheck worker` as its own process, delivering this app's outbox to its SMTP sink.
fn start_worker(app: &TestApp) -> Process {
    Process(
        Command::new(env!("CARGO_BIN_EXE_safecheck"))
            .arg("worker")
            .env("SAFECHECK_DATABASE_URL", app.db.url(None))
            .env("SAFECHECK_DATA_DIR", &app.config.data_dir)
            .env("SAFECHECK_JWT_SECRET", TEST_JWT_SECRET)
            .env("SAFECHECK_SMTP_URL", app.config.smtp_url.as_ref().unwrap().expose_secret())
            .env("SAFECHECK_PUBLIC_URL", &app.config.public_url)
            .env("SAFECHECK_JOBS", "delivery")
            // A killed worker's claims are taken over once their lease runs out.
            .env("SAFECHECK_DELIVERY_LEASE_SECS", "3")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start safecheck worker"),
    )
}

#[tokio::test]
async fn a_worker_killed_mid_delivery_loses_nothing_and_duplicates_only_what_was_in_flight() {
    let n = messages();
    // The app only queues; delivery runs in separate worker processes.
    let app = spawn_app_with(Options {
        env: vec![("SAFECHECK_RUN_WORKERS", "false".into())],
        ..Default::default()
    })
    .await;
    app.queue_notifications(n).await;

    let mut worker = start_worker(&app);
    let started = Instant::now();
    while app.smtp.count() < n / 3 {
        assert!(started.elapsed() < Duration::from_secs(60), "the worker did not deliver");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.kill(); // SIGKILL: no shutdown, no outcome recorded for what it held
    let delivered_at_kill = app.smtp.count();
    let held_at_kill = app.notifications_in_flight();

    let mut restarted = start_worker(&app);
    let mail = app.smtp.wait_for_distinct(n, Duration::from_secs(120)).await;
    restarted.kill();

    let mut copies: HashMap<String, usize> = HashMap::new();
    for m in &mail {
        *copies.entry(m.header("message-id").unwrap()).or_default() += 1;
    }
    let duplicates: usize = copies.values().map(|c| c - 1).sum();
    println!(
        "worker kill -9: {n} queued; {delivered_at_kill} delivered before the kill, {held_at_kill} in flight \
         at the kill; after the restart {} distinct delivered (lost: {}), {duplicates} duplicates",
        copies.len(),
        n - copies.len()
    );
    assert_eq!(copies.len(), n, "every message delivered");
    assert!(
        i64::try_from(duplicates).unwrap() <= held_at_kill,
        "{duplicates} duplicates, more than the {held_at_kill} in flight at the kill"
    );
}

/// The outbox by state, as `/metrics` shows it.
async fn outbox_states(app: &TestApp, token: &str) -> HashMap<String, i64> {
    let text =
        app.client.get(app.url("/metrics")).bearer_auth(token).send().await.unwrap().text().await.unwrap();
    text.lines()
        .filter_map(|line| line.strip_prefix("safecheck_notifications{state=\""))
        .filter_map(|rest| rest.split_once("\"} "))
        .map(|(state, n)| (state.to_owned(), n.trim().parse().unwrap()))
        .collect()
}

#[tokio::test]
async fn smtp_down_then_slow_then_refusing_loses_nothing_and_shows_the_backoff() {
    let token = "fault-test-metrics-token";
    let app = spawn_app_with(Options {
        env: vec![
            ("SAFECHECK_METRICS_TOKEN", token.into()),
            ("SAFECHECK_DELIVERY_RETRY_BASE_MS", "200".into()),
        ],
        ..Default::default()
    })
    .await;
    let n = 100;
    app.smtp.set_down(true);
    app.queue_notifications(n).await;

    // Down until the backoff shows: the first attempts failed and wait for their retry.
    let deadline = Instant::now() + Duration::from_secs(10);
    let while_down = loop {
        let states = outbox_states(&app, token).await;
        if states.get("retrying").copied().unwrap_or(0) > 0 {
            break states;
        }
        assert!(
            Instant::now() < deadline,
            "no message waits for a retry while the server is down: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    app.smtp.set_down(false);
    app.smtp.set_delay(Duration::from_millis(1500));
    // A slow server for a while is the behaviour under test: this sleep is its length.
    tokio::time::sleep(Duration::from_secs(3)).await;
    app.smtp.set_delay(Duration::ZERO);
    app.smtp.reply_to_next_data(&["421 4.3.2 closing for maintenance"; 5]);
    app.smtp.reply_to_next_data(&["451 4.3.0 try again later"; 5]);
    app.wait_for_outbox_settled(Duration::from_secs(90)).await;
    let mail = app.smtp.received();
    let after = outbox_states(&app, token).await;

    let distinct: std::collections::HashSet<String> =
        mail.iter().filter_map(|m| m.header("message-id")).collect();
    println!(
        "smtp down until retries show, slow (1.5 s a message) 3 s, then 5 x 421 and 5 x 451: while down {while_down:?}; \
         {} delivered ({} distinct, lost: {}); outbox after {after:?}",
        mail.len(),
        distinct.len(),
        n - distinct.len()
    );
    assert_eq!(distinct.len(), n, "every message delivered once the server recovers");
    assert_eq!(after.get("failed").copied().unwrap_or(0), 0);
    assert_eq!(after.get("sent").copied().unwrap_or(0), i64::try_from(n).unwrap());
}

#[path = "../../benches/activation/seed.rs"]
#[expect(dead_code, reason = "the benchmark's seeding, of which this test uses only a part")]
mod bench_seed;

/// `safecheck serve` as its own process over the app's database, running only the fan-out.
fn start_serve(app: &TestApp, port: u16) -> Process {
    Process(
        Command::new(env!("CARGO_BIN_EXE_safecheck"))
            .arg("serve")
            .env("SAFECHECK_DATABASE_URL", app.db.url(None))
            .env("SAFECHECK_LISTEN", format!("127.0.0.1:{port}"))
            .env("SAFECHECK_DATA_DIR", &app.config.data_dir)
            .env("SAFECHECK_JWT_SECRET", TEST_JWT_SECRET)
            // Tokens name the public URL as their issuer: the same across restarts on other ports.
            .env("SAFECHECK_PUBLIC_URL", &app.config.public_url)
            .env("SAFECHECK_JOBS", "fanout")
            .env("SAFECHECK_FANOUT_CHUNK", "1000")
            // Tens of thousands inside: no second operator in this test.
            .env("SAFECHECK_APPROVAL_THRESHOLD", "1000000000")
            // A killed process's fan-out is taken over this long after its last chunk.
            .env("SAFECHECK_FANOUT_LEASE_SECS", "2")
            .env("RUST_LOG", std::env::var("SERVE_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(if std::env::var_os("SERVE_LOG").is_some() { Stdio::inherit() } else { Stdio::null() })
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start safecheck serve"),
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn ready(client: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("safecheck serve did not become ready");
}

/// Multi-threaded: the test queries the database synchronously while servers run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_killed_mid_activation_prompts_every_user_inside_exactly_once_after_a_restart() {
    use safecheck::db::schema::prompts;
    let users = std::env::var("FAULT_USERS").ok().and_then(|n| n.parse().ok()).unwrap_or(40_000);
    let inside = users / 2;
    let app = spawn_app_with(Options {
        env: vec![("SAFECHECK_RUN_WORKERS", "false".into())],
        ..Default::default()
    })
    .await;
    let url = app.database_url().clone();
    tokio::task::spawn_blocking(move || {
        bench_seed::users_and_locations(&url, users, inside, (48.8630, 2.3708), 5_000.0);
        bench_seed::operator(&url, "op@fault.test", "fault password");
    })
    .await
    .unwrap();

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut serve = start_serve(&app, port);
    ready(&app.client, &base).await;
    let login: serde_json::Value = app
        .client
        .post(format!("{base}/v1/auth/login"))
        .json(&serde_json::json!({ "email": "op@fault.test", "password": "fault password" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    let area = serde_json::json!({ "type": "Circle", "center": { "lat": 48.8630, "lon": 2.3708 }, "radius_m": 5000 });
    let created: serde_json::Value = app
        .client
        .post(format!("{base}/v1/incidents"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "title": "Killed mid-way", "area": area }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let count = |table: &str| {
        let mut conn = safecheck::db::pool_connect(app.database_url()).unwrap();
        let n: i64 = match table {
            "prompts" => {
                prompts::table.filter(prompts::incident_id.eq(&id)).count().get_result(&mut conn).unwrap()
            }
            // Each prompt carries its email: queued with it, in the same statement.
            _ => prompts::table
                .filter(prompts::incident_id.eq(&id))
                .filter(prompts::email_state.eq("queued"))
                .count()
                .get_result(&mut conn)
                .unwrap(),
        };
        usize::try_from(n).unwrap()
    };
    let started = Instant::now();
    while count("prompts") < inside / 4 {
        assert!(started.elapsed() < Duration::from_secs(60), "the fan-out did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    serve.kill(); // SIGKILL, mid-chunk or between chunks
    let prompted_at_kill = count("prompts");

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut restarted = start_serve(&app, port);
    ready(&app.client, &base).await;
    app.wait_for_fanout_as(&base, &token, &id, Duration::from_secs(120)).await;
    restarted.kill();

    let (prompted, emails) = (count("prompts"), count("prompt emails"));
    println!(
        "serve kill -9 mid-activation: {users} users, {inside} inside; {prompted_at_kill} prompted at the kill; \
         after the restart {prompted} prompts and {emails} prompt emails (missing: {}, extra: {})",
        inside.saturating_sub(prompted),
        prompted.saturating_sub(inside)
    );
    assert_eq!(prompted, inside, "every user inside has exactly one prompt");
    assert_eq!(emails, inside, "and exactly one prompt email");
}
