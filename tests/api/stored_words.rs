//! A stored word this version does not know (a notification kind written by a newer version
//! during a rolling upgrade, a garbled locale) is never read as a default, and one such row
//! holds up nobody else: an outbox row of an unknown kind waits, a prompt email to a user whose
//! locale is unknown is recorded as failed, and the rest go out.

use std::time::Duration;

use diesel::RunQueryDsl;

use crate::helpers::{paris_circle, spawn_app};

#[tokio::test]
async fn an_outbox_row_of_an_unknown_kind_waits_while_the_others_are_delivered() {
    let app = spawn_app().await;
    let url = app.database_url().clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = safecheck::db::pool_connect(&url).unwrap();
        diesel::sql_query(
            "INSERT INTO notifications (id, kind, recipient_email, locale, payload, state, attempts, \
             next_attempt_at, created_at, dedupe_key) VALUES ('unknown-kind', 'carrier_pigeon', \
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

#[tokio::test]
async fn a_user_whose_stored_locale_is_unknown_gets_a_failed_prompt_email_and_the_others_theirs() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let garbled = app.user_at(48.8630, 2.3708).await;
    app.user_at(48.8631, 2.3709).await;
    let (url, id) = (app.database_url().clone(), garbled.id.clone());
    tokio::task::spawn_blocking(move || {
        let mut conn = safecheck::db::pool_connect(&url).unwrap();
        let sql = safecheck::db::native_placeholders(&conn, "UPDATE users SET locale = 'xx' WHERE id = $1");
        diesel::sql_query(sql).bind::<diesel::sql_types::Text, _>(id).execute(&mut conn).unwrap();
    })
    .await
    .unwrap();

    let incident = app.activate(&operator, &paris_circle("Flood")).await;
    app.wait_for_outbox_settled(Duration::from_secs(10)).await;

    assert_eq!(incident["fanout"]["prompts_created"], 2, "both are prompted");
    let stats = app.stats(&operator, incident["id"].as_str().unwrap()).await;
    assert_eq!(stats["notifications"]["sent"], 1);
    assert_eq!(stats["notifications"]["failed"], 1, "the unreadable one is visibly failed");
    assert_eq!(app.smtp.received().len(), 1);
}
