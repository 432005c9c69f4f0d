//! Faults: a worker process killed with SIGKILL in the middle of delivering. Every message is
//! delivered after a restart; duplicates only among those in flight at the kill. The size is
//! `FAULT_MESSAGES` (2,000 by default; the 10,000 with FAULT_MESSAGES=10000).

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use secrecy::ExposeSecret;

use crate::helpers::{Options, TEST_JWT_SECRET, TestApp, spawn_app_with};

fn messages() -> usize {
    std::env::var("FAULT_MESSAGES").ok().and_then(|n| n.parse().ok()).unwrap_or(2_000)
}

/// `safecheck worker` as its own process, delivering this app's outbox to its SMTP sink.
fn start_worker(app: &TestApp) -> Child {
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
        .expect("start safecheck worker")
}

fn in_flight(app: &TestApp) -> i64 {
    use safecheck::db::schema::notifications;
    let mut conn = safecheck::db::pool_connect(app.database_url()).unwrap();
    notifications::table.filter(notifications::state.eq("sending")).count().get_result(&mut conn).unwrap()
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
    worker.kill().unwrap(); // SIGKILL: no shutdown, no outcome recorded for what it held
    worker.wait().unwrap();
    let delivered_at_kill = app.smtp.count();
    let held_at_kill = in_flight(&app);

    let mut restarted = start_worker(&app);
    let mail = app.smtp.wait_for_distinct(n, Duration::from_secs(120)).await;
    restarted.kill().unwrap();
    restarted.wait().unwrap();

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
