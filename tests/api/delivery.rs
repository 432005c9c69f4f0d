//! Two workers over one database deliver every notification exactly once.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, paris_circle, spawn_app_with};

#[tokio::test]
async fn two_workers_deliver_a_thousand_notifications_without_a_duplicate() {
    // This app only queues; two sibling servers (two worker processes) deliver.
    let app = spawn_app_with(Options {
        env: vec![("SAFECHECK_RUN_WORKERS", "false".into())],
        ..Default::default()
    })
    .await;
    app.queue_notifications(1000).await;
    let workers = [("SAFECHECK_RUN_WORKERS", "true"), ("SAFECHECK_DELIVERY_BATCH", "25")];
    app.spawn_sibling(&workers).await;
    app.spawn_sibling(&workers).await;

    app.wait_for_outbox_settled(Duration::from_secs(60)).await;
    let mail = app.smtp.received();
    let ids: HashSet<String> = mail.iter().map(|m| m.header("message-id").unwrap()).collect();
    let recipients: HashSet<&str> = mail.iter().map(|m| m.to[0].as_str()).collect();
    assert_eq!(recipients.len(), 1000, "every notification delivered");
    assert_eq!(mail.len(), 1000, "no duplicates ({} distinct Message-IDs)", ids.len());
    assert_eq!(ids.len(), 1000);
}

#[tokio::test]
async fn safecheck_jobs_runs_only_the_jobs_it_names() {
    let app =
        spawn_app_with(Options { env: vec![("SAFECHECK_JOBS", "fanout".into())], ..Default::default() })
            .await;
    let operator = app.new_user_with_role("operator").await;
    let user = app.user_at(48.8630, 2.3708).await;
    let contact = json!({ "name": "Mum", "email": "mum@example.org" });
    app.authed(Method::POST, "/v1/me/contacts", &user).json(&contact).send().await.unwrap();
    app.queue_notifications(3).await;

    let incident = app.activate(&operator, &paris_circle("Jobs")).await;
    assert_eq!(incident["fanout"]["prompts_created"], 1, "the fan-out ran");

    // Proof that delivery, had it run, had its turn: an answer that queues an email wakes this
    // process's delivery job at once (it would otherwise poll every 250 ms), and only then does
    // a second activation wake the fan-out job, whose finished work we wait for. Woken
    // delivery's first step is to claim every due row, so had it run, rows would no longer be
    // `queued`.
    let id = incident["id"].as_str().unwrap();
    let answer = app
        .authed(Method::POST, &format!("/v1/incidents/{id}/check-ins"), &user)
        .json(&json!({ "status": "safe" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.json::<Value>().await.unwrap()["notifications_queued"], 1);
    app.activate(&operator, &paris_circle("Jobs, later")).await;

    let not_queued = app.notifications_in(&["sending", "retrying", "sent", "failed"]);
    assert_eq!(not_queued, 0, "delivery claimed nothing");
    assert_eq!(app.smtp.count(), 0, "delivery did not run");
}

/// Prompt emails are carried by their prompts: two delivery processes send each exactly once,
/// and those a crashed worker had claimed go out once its lease runs out.
#[tokio::test]
async fn prompt_emails_go_out_once_each_even_after_a_worker_died_holding_some() {
    // This app only fans out; two sibling processes deliver.
    let app =
        spawn_app_with(Options { env: vec![("SAFECHECK_JOBS", "fanout".into())], ..Default::default() })
            .await;
    let operator = app.new_user_with_role("operator").await;
    for i in 0..60 {
        app.user_at(48.8630 + f64::from(i) * 0.0001, 2.3708).await;
    }
    app.activate(&operator, &crate::helpers::paris_circle("Flood")).await;
    // A worker claims 10 of them and dies before sending.
    let (url, clock) = (app.database_url().clone(), app.clock.clone());
    let lease = chrono::Duration::seconds(60);
    let held = tokio::task::spawn_blocking(move || {
        use safecheck::clock::Clock;
        let mut conn = safecheck::db::pool_connect(&url).unwrap();
        let now = clock.now();
        safecheck::db::prompt_emails::claim(&mut conn, now, now + lease, 10).unwrap().len()
    })
    .await
    .unwrap();
    assert_eq!(held, 10);

    let workers = [("SAFECHECK_JOBS", "delivery"), ("SAFECHECK_DELIVERY_BATCH", "7")];
    app.spawn_sibling(&workers).await;
    app.spawn_sibling(&workers).await;
    // Once the other 50 are recorded sent (only the dead worker's 10 still `sending`), time
    // passes beyond its lease; moving the clock earlier would also expire the leases of batches
    // still in flight, a window in which a resend is allowed.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while app.notifications_in(&["sent"]) < 50 {
        assert!(std::time::Instant::now() < deadline, "the 50 unclaimed prompt emails were not sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.notifications_in_flight(), 10, "the dead worker's claims wait for its lease");
    app.clock.advance(lease + chrono::Duration::seconds(1));
    app.wait_for_outbox_settled(Duration::from_secs(30)).await;

    let mail = app.smtp.received();
    let ids: HashSet<String> = mail.iter().map(|m| m.header("message-id").unwrap()).collect();
    let recipients: HashSet<&str> = mail.iter().map(|m| m.to[0].as_str()).collect();
    assert_eq!(recipients.len(), 60, "every prompted person got their email");
    assert_eq!(mail.len(), 60, "no duplicates ({} distinct Message-IDs)", ids.len());
    assert_eq!(ids.len(), 60);
    assert!(mail.iter().all(|m| m.header_text("subject").is_some_and(|s| s.contains("Flood"))));
}
