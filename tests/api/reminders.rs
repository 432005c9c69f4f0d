//! Reminders to prompted users who have not answered: who gets one, and the limits.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, error_fields, paris_circle, problem, spawn_app};

const WAIT: Duration = Duration::from_secs(10);

async fn remind(app: &TestApp, operator: &TestUser, incident: &str) -> Value {
    let response = app
        .authed(Method::POST, &format!("/v1/incidents/{incident}/reminders"), operator)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "reminders");
    response.json().await.unwrap()
}

fn counts(outcome: &Value) -> [i64; 4] {
    ["queued", "skipped_recent", "skipped_limit", "not_answered"].map(|k| outcome[k].as_i64().unwrap())
}

/// Half an hour on, once every queued message is sent: a message claimed just before the jump
/// would have its lease (60 s) run out at once, and another claim would rightly take it
/// over and send it again.
async fn half_an_hour_later(app: &TestApp) {
    app.wait_for_outbox_settled(WAIT).await;
    app.clock.advance(chrono::Duration::minutes(31));
}

#[tokio::test]
async fn reminders_reach_only_those_who_have_not_answered_within_the_limits() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let users = [
        app.user_at(48.8630, 2.3708).await,
        app.user_at(48.8631, 2.3709).await,
        app.user_at(48.8632, 2.3707).await,
    ];
    let incident = app.activate(&operator, &paris_circle("Storm")).await["id"].as_str().unwrap().to_owned();
    let answered = app
        .authed(Method::POST, &format!("/v1/incidents/{incident}/check-ins"), &users[0])
        .json(&json!({ "status": "safe" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 201);
    app.smtp.wait_for(3, WAIT).await; // the three prompt emails

    // Just prompted: nobody is emailed again within half an hour.
    assert_eq!(counts(&remind(&app, &operator, &incident).await), [0, 2, 0, 2]);
    half_an_hour_later(&app).await;
    let first = remind(&app, &operator, &incident).await;
    assert_eq!(counts(&first), [2, 0, 0, 2]);
    assert_eq!(first["incident_id"], incident.as_str());
    let mails = app.smtp.wait_for(5, WAIT).await;
    let reminded: Vec<_> =
        mails.iter().filter(|m| m.header_text("Subject").unwrap().starts_with("Reminder:")).collect();
    let mut to: Vec<String> = reminded.iter().map(|m| m.to.join(",")).collect();
    to.sort();
    let mut expected = vec![users[1].email.clone(), users[2].email.clone()];
    expected.sort();
    assert_eq!(to, expected, "only those who have not answered");
    assert_eq!(counts(&remind(&app, &operator, &incident).await), [0, 2, 0, 2], "a retry sends nothing");

    for _ in 0..2 {
        half_an_hour_later(&app).await;
        assert_eq!(counts(&remind(&app, &operator, &incident).await)[0], 2);
    }
    half_an_hour_later(&app).await;
    assert_eq!(counts(&remind(&app, &operator, &incident).await), [0, 0, 2, 2], "three reminders at most");
    assert_eq!(app.smtp.wait_for(9, WAIT).await.len(), 9);
    let audited = app.audit_actions(&operator).await;
    assert_eq!(audited.iter().filter(|a| *a == "incident.remind").count(), 6);
}

#[tokio::test]
async fn a_resolved_incident_gets_no_reminders() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let incident = app.activate(&operator, &paris_circle("Storm")).await["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/incidents/{incident}/resolve");
    let resolved = app.authed(Method::POST, &path, &operator).send().await.unwrap();
    assert_eq!(resolved.status(), 200);

    let response = app
        .authed(Method::POST, &format!("/v1/incidents/{incident}/reminders"), &operator)
        .send()
        .await
        .unwrap();

    assert_eq!(error_fields(&problem(response, 409).await), vec!["status"]);
    let unknown = app.authed(Method::POST, "/v1/incidents/nope/reminders", &operator).send().await.unwrap();
    problem(unknown, 404).await;
}
