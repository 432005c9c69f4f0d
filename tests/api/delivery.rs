//! Two workers over one database deliver every notification exactly once.

use std::collections::HashSet;
use std::time::Duration;

use crate::helpers::{Options, spawn_app_with};

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

    app.smtp.wait_for(1000, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
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
    app.user_at(48.8630, 2.3708).await;
    app.queue_notifications(3).await;

    let incident = app.activate(&operator, &crate::helpers::paris_circle("Jobs")).await;

    assert_eq!(incident["fanout"]["prompts_created"], 1, "the fan-out ran");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.smtp.count(), 0, "delivery did not run");
}
