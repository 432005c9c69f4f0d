//! A stored word this version does not know (a notification kind written by a newer version
//! during a rolling upgrade) is never read as a default: its row waits, the rest go out.

use std::time::Duration;

use diesel::RunQueryDsl;

use crate::helpers::spawn_app;

#[tokio::test]
async fn an_outbox_row_of_an_unknown_kind_waits_while_the_others_are_delivered() {
    let app = spawn_app().await;
    let url = app.database_url().clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = safecheck::db::pool_connect(&url).unwrap();
        diesel::sql_query(
            "INSERT INTO notifications (id, kind, recipient_email, locale, payload, state, attempts, \
             next_attempt_at, created_at, dedupe_key) VALUES ('unknown-kind', 'official_update', \
             'later@example.org', 'en', '{}', 'queued', 0, '2026-01-01 00:00:00', \
             '2026-01-01 00:00:00', 'unknown-kind')",
        )
        .execute(&mut conn)
        .unwrap();
    })
    .await
    .unwrap();

    app.queue_notifications(2).await;
    app.smtp.wait_for(2, Duration::from_secs(10)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.notifications_in(&["sent"]) < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    assert_eq!(app.notifications_in(&["sent"]), 2, "the known rows were delivered");
    assert_eq!(app.notifications_in(&["queued"]), 1, "the unknown one waits, untouched");
    assert!(app.smtp.received().iter().all(|m| m.to != ["later@example.org"]));
}
