//! Drills (CAP's status Exercise): every prompt, email and representation says EXERCISE in the
//! recipient's language; contacts hear nothing unless the operator asked; drills are listed apart.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ReceivedMail, TestApp, TestUser, error_fields, paris_circle, problem, spawn_app};

fn drill(title: &str, notify_contacts: Option<bool>) -> Value {
    let mut body = paris_circle(title);
    body["exercise"] = json!(true);
    if let Some(notify) = notify_contacts {
        body["notify_contacts"] = json!(notify);
    }
    body
}

fn subjects_to(mail: &[ReceivedMail], address: &str) -> Vec<String> {
    mail.iter().filter(|m| m.to == [address]).filter_map(|m| m.header_text("subject")).collect()
}

async fn answer(app: &TestApp, user: &TestUser, incident: &str) -> Value {
    let path = format!("/v1/incidents/{incident}/check-ins");
    let response =
        app.authed(Method::POST, &path, user).json(&json!({ "status": "safe" })).send().await.unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn add_mum(app: &TestApp, user: &TestUser) {
    let response = app
        .authed(Method::POST, "/v1/me/contacts", user)
        .json(&json!({ "name": "Mum", "email": "mum@example.org" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn a_drill_says_exercise_everywhere_in_each_language_and_spares_the_contacts() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let bob = app.user_at(48.8630, 2.3708).await;
    let zoe = app.user_at(48.8631, 2.3709).await;
    let french =
        app.authed(Method::PATCH, "/v1/me", &zoe).json(&json!({ "locale": "fr" })).send().await.unwrap();
    assert_eq!(french.status(), 200);
    add_mum(&app, &bob).await;
    let incident = app.activate(&operator, &drill("Evacuation drill", None)).await;
    let id = incident["id"].as_str().unwrap();
    app.wait_for_fanout(&operator, id).await;

    let answered = answer(&app, &bob, id).await;
    let update = app
        .authed(Method::POST, &format!("/v1/incidents/{id}/updates"), &operator)
        .json(&json!({ "text": "Gather in the courtyard." }))
        .send()
        .await
        .unwrap();
    assert_eq!(update.status(), 201);
    app.smtp.wait_for(5, Duration::from_secs(20)).await; // two prompts, two updates, mum's invitation
    app.wait_for_outbox_settled(Duration::from_secs(20)).await;

    assert_eq!(
        (incident["exercise"].as_bool(), incident["notify_contacts"].as_bool()),
        (Some(true), Some(false))
    );
    let mail = app.smtp.received();
    assert_eq!(
        subjects_to(&mail, &bob.email),
        ["[EXERCISE] Are you safe? Evacuation drill", "[EXERCISE] [Official update] Evacuation drill"]
    );
    // The French subjects are RFC 2047 words the sink leaves partly encoded: their start reads.
    let to_zoe = subjects_to(&mail, &zoe.email);
    assert_eq!(to_zoe.len(), 2, "{to_zoe:?}");
    assert!(to_zoe[0].starts_with("[EXERCICE] Êtes-vous en "), "{to_zoe:?}");
    assert_eq!(to_zoe[1], "[EXERCICE] [Information officielle] Evacuation drill");
    let to_bob = mail.iter().find(|m| m.to == [bob.email.as_str()]).unwrap().data.replace("=\r\n", "");
    assert!(to_bob.contains("EXERCISE: this is a drill, not a real incident."), "{to_bob}");
    assert_eq!(answered["notifications_queued"], 0, "contacts are not told of a drill's answers");
    assert!(
        subjects_to(&mail, "mum@example.org").iter().all(|s| s.contains("listed you as a contact")),
        "mum got her invitation and nothing of the drill: {:?}",
        subjects_to(&mail, "mum@example.org")
    );
    assert_eq!(app.prompts(&zoe).await[0]["incident"]["exercise"], true);
    let real = app.get_json("/v1/incidents", &operator).await;
    assert!(real["items"].as_array().unwrap().is_empty(), "drills are listed apart: {real}");
    let drills = app.get_json("/v1/incidents?exercise=true", &operator).await;
    assert_eq!(drills["items"][0]["id"], id);
}

#[tokio::test]
async fn a_drill_that_asks_for_it_tells_the_contacts_that_it_is_an_exercise() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let bob = app.user_at(48.8630, 2.3708).await;
    add_mum(&app, &bob).await;
    let incident = app.activate(&operator, &drill("Flood drill", Some(true))).await;
    let id = incident["id"].as_str().unwrap();

    let answered = answer(&app, &bob, id).await;
    app.wait_for_outbox_settled(Duration::from_secs(20)).await;

    assert_eq!(answered["notifications_queued"], 1);
    let to_mum = subjects_to(&app.smtp.received(), "mum@example.org");
    assert!(to_mum.iter().any(|s| s.starts_with("[EXERCISE]") && s.contains("is safe")), "{to_mum:?}");
}

#[tokio::test]
async fn only_a_drill_may_leave_contacts_out() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let mut body = paris_circle("Fire");
    body["notify_contacts"] = json!(false);

    let refused = app.create_incident(&operator, &body).await;

    assert_eq!(error_fields(&problem(refused, 422).await), ["notify_contacts"]);
    assert!(app.get_json("/v1/incidents", &operator).await["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn the_metrics_of_real_incidents_leave_the_drills_out() {
    const TOKEN: &str = "scrape-token-0123456789";
    let options = crate::helpers::Options {
        env: vec![("SAFECHECK_METRICS_TOKEN", TOKEN.into())],
        ..Default::default()
    };
    let app = crate::helpers::spawn_app_with(options).await;
    let operator = app.new_user_with_role("operator").await;
    app.user_at(48.8630, 2.3708).await;
    app.user_at(48.8631, 2.3709).await;
    app.activate(&operator, &drill("Drill", None)).await;
    app.smtp.wait_for(2, Duration::from_secs(20)).await;
    app.wait_for_outbox_settled(Duration::from_secs(20)).await;
    let real = app.activate(&operator, &paris_circle("Fire")).await;
    app.wait_for_fanout(&operator, real["id"].as_str().unwrap()).await;
    app.smtp.wait_for(4, Duration::from_secs(20)).await;
    app.wait_for_outbox_settled(Duration::from_secs(20)).await;

    let response = app.client.get(app.url("/metrics")).bearer_auth(TOKEN).send().await.unwrap();

    let text = response.text().await.unwrap();
    let has = |line: &str| text.lines().any(|l| l == line);
    assert!(has(r#"safecheck_notifications{state="sent"} 2"#), "{text}");
    assert!(has(r#"safecheck_exercise_notifications{state="sent"} 2"#), "{text}");
}
