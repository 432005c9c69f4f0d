//! What operators tell the people of an incident after the prompt: official updates (listed,
//! carried with prompts, emailed to the people prompted and never to contacts, at most one in 5
//! minutes unless urgent), the all clear, and the retraction of an alert sent in error, which
//! reaches exactly those who heard of it and cancels the rest.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    Options, ReceivedMail, TestApp, TestUser, error_fields, paris_circle, problem, spawn_app_with,
};

const ORG: &str = "Paris Police HQ";

/// An app whose walks take two people a chunk, so every notice here crosses chunks.
async fn app() -> TestApp {
    let env = vec![("SAFECHECK_ORG_NAME", ORG.into()), ("SAFECHECK_FANOUT_CHUNK", "2".into())];
    spawn_app_with(Options { env, ..Default::default() }).await
}

fn subject(mail: &ReceivedMail) -> String {
    mail.header_text("subject").unwrap_or_default()
}

/// The subjects each address received, in order of arrival.
fn subjects_to(mail: &[ReceivedMail], address: &str) -> Vec<String> {
    mail.iter().filter(|m| m.to == [address]).map(subject).collect()
}

fn count_to(mail: &[ReceivedMail], address: &str, starts: &str) -> usize {
    subjects_to(mail, address).iter().filter(|s| s.starts_with(starts)).count()
}

async fn post_update(app: &TestApp, operator: &TestUser, incident: &str, body: Value) -> reqwest::Response {
    let path = format!("/v1/incidents/{incident}/updates");
    app.authed(Method::POST, &path, operator).json(&body).send().await.unwrap()
}

async fn answer(app: &TestApp, user: &TestUser, incident: &str, status: &str) {
    let path = format!("/v1/incidents/{incident}/check-ins");
    let response =
        app.authed(Method::POST, &path, user).json(&json!({ "status": status })).send().await.unwrap();
    assert_eq!(response.status(), 201);
}

async fn set_french(app: &TestApp, user: &TestUser) {
    let response =
        app.authed(Method::PATCH, "/v1/me", user).json(&json!({ "locale": "fr" })).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

async fn add_contact(app: &TestApp, user: &TestUser, email: &str) {
    let response = app
        .authed(Method::POST, "/v1/me/contacts", user)
        .json(&json!({ "name": "Mum", "email": email }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn an_official_update_is_listed_carried_with_prompts_and_emailed_to_the_people_prompted_only() {
    let app = app().await;
    let operator = app.new_user_with_role("operator").await;
    let ada = app.user_at(48.8630, 2.3708).await;
    let zoe = app.user_at(48.8631, 2.3709).await;
    set_french(&app, &zoe).await;
    let outsider = app.user_at(43.2965, 5.3698).await;
    add_contact(&app, &ada, "mum@example.org").await;
    let incident = app.activate(&operator, &paris_circle("Fire in Paris")).await;
    let id = incident["id"].as_str().unwrap();
    app.wait_for_fanout(&operator, id).await;
    answer(&app, &ada, id, "safe").await;

    let posted =
        post_update(&app, &operator, id, json!({ "text": "No shooting at Les Halles: false report." })).await;
    assert_eq!(posted.status(), 201);
    let posted: Value = posted.json().await.unwrap();
    wait_for_notices_delivered(&app, &operator, id).await;

    assert_eq!((posted["kind"].as_str(), posted["emailed"].as_bool()), (Some("update"), Some(true)));
    assert_eq!(posted["organisation"], ORG);
    let mail = app.smtp.received();
    let to_ada: Vec<&ReceivedMail> = mail
        .iter()
        .filter(|m| m.to == [ada.email.as_str()] && subject(m).starts_with("[Official update]"))
        .collect();
    assert_eq!(to_ada.len(), 1, "{:?}\noutbox: {}", subjects_to(&mail, &ada.email), outbox_dump(&app));
    let body = to_ada[0].data.replace("=\r\n", "");
    assert!(body.contains(ORG) && body.contains("No shooting at Les Halles"), "{body}");
    assert_eq!(count_to(&mail, &zoe.email, "[Information officielle] Fire in Paris"), 1, "in French to Zoe");
    assert!(
        subjects_to(&mail, "mum@example.org")
            .iter()
            .all(|s| !s.contains("update") && !s.contains("officielle")),
        "never to contacts"
    );
    assert!(subjects_to(&mail, &outsider.email).is_empty(), "nor to anyone not prompted");
    let path = format!("/v1/incidents/{id}/updates");
    let listed = app.get_json(&path, &zoe).await;
    assert_eq!(listed["items"][0]["text"], "No shooting at Les Halles: false report.");
    assert_eq!(app.get_json(&path, &operator).await["items"].as_array().unwrap().len(), 1);
    let refused = app.authed(Method::GET, &path, &outsider).send().await.unwrap();
    assert_eq!(refused.status(), 404, "a user not prompted learns nothing of it");
    let prompts = app.prompts(&zoe).await;
    assert_eq!(prompts[0]["updates"][0]["id"], posted["id"], "the open prompt carries the update");
    assert!(app.audit_actions(&operator).await.contains(&"incident.update".to_owned()));
}

#[tokio::test]
async fn an_update_flood_emails_at_most_one_in_five_minutes_unless_urgent() {
    let app = app().await;
    let operator = app.new_user_with_role("operator").await;
    let ada = app.user_at(48.8630, 2.3708).await;
    let incident = app.activate(&operator, &paris_circle("Fire in Paris")).await;
    let id = incident["id"].as_str().unwrap();
    app.wait_for_fanout(&operator, id).await;

    let mut emailed = Vec::new();
    for i in 0..5 {
        let response = post_update(&app, &operator, id, json!({ "text": format!("update {i}") })).await;
        emailed.push(response.json::<Value>().await.unwrap()["emailed"].as_bool().unwrap());
    }
    let urgent = post_update(&app, &operator, id, json!({ "text": "evacuate now", "urgent": true })).await;
    emailed.push(urgent.json::<Value>().await.unwrap()["emailed"].as_bool().unwrap());
    app.clock.advance(chrono::Duration::minutes(5));
    let later = post_update(&app, &operator, id, json!({ "text": "five minutes on" })).await;
    emailed.push(later.json::<Value>().await.unwrap()["emailed"].as_bool().unwrap());
    wait_for_notices_delivered(&app, &operator, id).await;

    assert_eq!(emailed, [true, false, false, false, false, true, true]);
    let mail = app.smtp.received();
    assert_eq!(count_to(&mail, &ada.email, "[Official update]"), 3, "{:?}", subjects_to(&mail, &ada.email));
    let listed = app.get_json(&format!("/v1/incidents/{id}/updates?limit=200"), &ada).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 7, "every update is stored and listed");
    assert_eq!(listed["items"][0]["text"], "five minutes on", "newest first");
}

#[tokio::test]
async fn bad_updates_and_retractions_name_the_field_and_change_nothing() {
    let app = app().await;
    let operator = app.new_user_with_role("operator").await;
    let incident = app.activate(&operator, &paris_circle("Fire in Paris")).await;
    let id = incident["id"].as_str().unwrap();

    for text in [json!(""), json!("   "), json!("x".repeat(1001)), json!("hidden\u{202E}text")] {
        let refused = post_update(&app, &operator, id, json!({ "text": text })).await;
        assert_eq!(error_fields(&problem(refused, 422).await), ["text"]);
    }
    let retract = format!("/v1/incidents/{id}/retract");
    let refused =
        app.authed(Method::POST, &retract, &operator).json(&json!({ "reason": "" })).send().await.unwrap();
    assert_eq!(error_fields(&problem(refused, 422).await), ["reason"]);
    let user = app.new_user().await;
    let forbidden = post_update(&app, &user, id, json!({ "text": "hello" })).await;
    assert_eq!(forbidden.status(), 403);
    assert!(
        app.get_json(&format!("/v1/incidents/{id}/updates"), &operator).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let resolve = format!("/v1/incidents/{id}/resolve");
    assert_eq!(app.authed(Method::POST, &resolve, &operator).send().await.unwrap().status(), 200);
    let late = post_update(&app, &operator, id, json!({ "text": "too late" })).await;
    problem(late, 409).await;
    let late = app
        .authed(Method::POST, &retract, &operator)
        .json(&json!({ "reason": "oops" }))
        .send()
        .await
        .unwrap();
    problem(late, 409).await;
}

#[tokio::test]
async fn an_all_clear_goes_to_everyone_prompted_and_a_prompt_email_not_yet_sent_is_cancelled() {
    let app = app().await;
    let operator = app.new_user_with_role("operator").await;
    let ada = app.user_at(48.8630, 2.3708).await;
    let zoe = app.user_at(48.8631, 2.3709).await;
    set_french(&app, &zoe).await;
    let incident = app.activate(&operator, &paris_circle("Fire in Paris")).await;
    let id = incident["id"].as_str().unwrap();
    app.wait_for_fanout(&operator, id).await;
    app.smtp.wait_for(2, Duration::from_secs(20)).await;
    app.wait_for_outbox_settled(Duration::from_secs(20)).await;
    // Late arrives while mail cannot go out: their prompt email waits for a retry.
    app.smtp.set_down(true);
    let late = app.user_at(48.8632, 2.3707).await;
    wait_for_state(&app, "retrying", 1).await;

    let resolve = format!("/v1/incidents/{id}/resolve");
    let resolved = app
        .authed(Method::POST, &resolve, &operator)
        .json(&json!({ "note": "The fire is out.", "notify": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(resolved.status(), 200);
    app.smtp.set_down(false);
    wait_for_notices_delivered(&app, &operator, id).await;

    let mail = app.smtp.received();
    assert_eq!(
        count_to(&mail, &ada.email, "All clear: Fire in Paris"),
        1,
        "{:?}",
        subjects_to(&mail, &ada.email)
    );
    assert_eq!(count_to(&mail, &zoe.email, "Fin d'alerte : Fire in Paris"), 1);
    assert_eq!(
        subjects_to(&mail, &late.email),
        ["All clear: Fire in Paris"],
        "no more \"are you safe?\" after the end, and the all clear as everyone prompted"
    );
    let stats = app.stats(&operator, id).await;
    assert_eq!(stats["notifications"]["cancelled"], 1, "the late prompt email was cancelled: {stats}");
    let listed = app.get_json(&format!("/v1/incidents/{id}/updates"), &ada).await;
    assert_eq!(listed["items"][0]["kind"], "all_clear");
    assert_eq!(listed["items"][0]["text"], "The fire is out.");
}

#[tokio::test]
async fn a_retraction_reaches_exactly_those_told_and_the_contacts_told_once_each_and_cancels_the_rest() {
    let app = app().await;
    let operator = app.new_user_with_role("operator").await;
    let ada = app.user_at(48.8630, 2.3708).await;
    let bob = app.user_at(48.8631, 2.3709).await;
    let outsider = app.user_at(43.2965, 5.3698).await;
    add_contact(&app, &ada, "mum@example.org").await;
    add_contact(&app, &bob, "mum@example.org").await;
    let incident = app.activate(&operator, &paris_circle("Shooting at Les Halles")).await;
    let id = incident["id"].as_str().unwrap();
    app.wait_for_fanout(&operator, id).await;
    answer(&app, &ada, id, "safe").await;
    answer(&app, &bob, id, "safe").await;
    // Two prompts, mum's invitation and her two check-in emails.
    app.smtp.wait_for(5, Duration::from_secs(20)).await;
    app.wait_for_outbox_settled(Duration::from_secs(20)).await;
    // Then mail stops going out: a late arrival's prompt email and a later answer's email to
    // a contact wait for a retry.
    app.smtp.set_down(true);
    let late = app.user_at(48.8632, 2.3707).await;
    add_contact(&app, &late, "dad@example.org").await;
    answer(&app, &late, id, "need_help").await;
    // Late's prompt email, dad's invitation and dad's check-in email.
    wait_for_state(&app, "retrying", 3).await;
    let before = app.smtp.count();

    let retract = format!("/v1/incidents/{id}/retract");
    let retracted = app
        .authed(Method::POST, &retract, &operator)
        .json(&json!({ "reason": "There was no shooting." }))
        .send()
        .await
        .unwrap();
    assert_eq!(retracted.status(), 200);
    let retracted: Value = retracted.json().await.unwrap();
    app.smtp.set_down(false);
    wait_for_notices_delivered(&app, &operator, id).await;

    assert_eq!(
        (retracted["status"].as_str(), retracted["resolution"].as_str()),
        (Some("retracted"), Some("retracted"))
    );
    assert_eq!(retracted["resolution_note"], "There was no shooting.");
    let mail = app.smtp.received();
    let after: Vec<ReceivedMail> = mail[before..].to_vec();
    for told in [ada.email.as_str(), bob.email.as_str()] {
        assert_eq!(subjects_to(&after, told), ["Sent in error: Shooting at Les Halles"], "{told}");
    }
    // Mum never accepted: she was told a name and a status, and is told no title now either.
    assert_eq!(subjects_to(&after, "mum@example.org"), ["An alert was sent in error"]);
    // Late answered, so heard of it: told too, although its prompt email was cancelled.
    assert_eq!(subjects_to(&after, &late.email), ["Sent in error: Shooting at Les Halles"]);
    assert!(
        subjects_to(&mail, "dad@example.org").iter().all(|s| !s.contains("Shooting")),
        "dad heard nothing"
    );
    assert!(subjects_to(&mail, "dad@example.org").iter().all(|s| !s.starts_with("Sent in error")));
    assert!(subjects_to(&mail, &outsider.email).is_empty());
    let body = after.iter().find(|m| m.to == ["mum@example.org"]).unwrap().data.replace("=\r\n", "");
    assert!(body.contains("someone's answer"), "{body}");
    assert!(!body.contains("Shooting") && !body.contains("There was no shooting."), "{body}");
    let stats = app.stats(&operator, id).await;
    assert_eq!(stats["status"], "retracted");
    assert_eq!(stats["notifications"]["cancelled"], 2, "late's prompt and dad's check-in email: {stats}");
    assert!(app.prompts(&bob).await.is_empty(), "no prompt stays open");
    let notices = app.get_json(&format!("/v1/incidents/{id}/updates"), &bob).await;
    assert_eq!(notices["items"][0]["kind"], "retraction");
    assert!(app.audit_actions(&operator).await.contains(&"incident.retract".to_owned()));
}

/// Waits until every notice of the incident has queued its emails, and they all went out.
async fn wait_for_notices_delivered(app: &TestApp, operator: &TestUser, incident: &str) {
    let path = format!("/v1/incidents/{incident}/updates?limit=200");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let listed = app.get_json(&path, operator).await;
        if listed["items"].as_array().unwrap().iter().all(|n| n["emails_complete"] == true) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "notices still walking: {listed}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.wait_for_outbox_settled(Duration::from_secs(20)).await;
}

/// Waits until at least `n` emails (outbox rows and prompts' own) are in `state`.
async fn wait_for_state(app: &TestApp, state: &'static str, n: i64) {
    crate::helpers::wait_until(state, Duration::from_secs(20), || app.notifications_in(&[state]) >= n).await;
}

#[tokio::test]
async fn a_retraction_reaches_someone_told_only_by_an_update() {
    let app = app().await;
    let operator = app.new_user_with_role("operator").await;
    let carl = app.user_at(48.8630, 2.3708).await;
    let incident = app.activate(&operator, &paris_circle("Fire in Paris")).await;
    let id = incident["id"].as_str().unwrap().to_owned();
    app.wait_for_fanout(&operator, &id).await;
    app.smtp.wait_for(1, Duration::from_secs(20)).await;
    app.wait_for_outbox_settled(Duration::from_secs(20)).await;
    // As the database would stand had Carl's prompt email been held back (a retry not due yet)
    // while an official update to him went out.
    let (url, incident_id, user_id) = (app.database_url().clone(), id.clone(), carl.id.clone());
    tokio::task::spawn_blocking(move || {
        use diesel::RunQueryDsl;
        use diesel::sql_types::Text;
        let mut conn = safecheck::db::pool_connect(&url).unwrap();
        let held_back = safecheck::db::native_placeholders(
            &conn,
            "UPDATE prompts SET email_state = 'retrying', email_next_at = '2099-01-01 00:00:00' \
             WHERE incident_id = $1 AND user_id = $2",
        );
        let sent_update = safecheck::db::native_placeholders(
            &conn,
            "INSERT INTO notifications (id, kind, recipient_email, locale, incident_id, user_id, payload, \
             state, attempts, next_attempt_at, created_at, sent_at, dedupe_key) VALUES ('sent-update', \
             'official_update', 'carl@example.org', 'en', $1, $2, '{}', 'sent', 1, '2026-01-01 00:00:00', \
             '2026-01-01 00:00:00', '2026-01-01 00:00:00', 'sent-update')",
        );
        for sql in [held_back, sent_update] {
            let query = diesel::sql_query(sql).bind::<Text, _>(&incident_id).bind::<Text, _>(&user_id);
            assert_eq!(query.execute(&mut conn).unwrap(), 1);
        }
    })
    .await
    .unwrap();
    let before = app.smtp.count();

    let retract = format!("/v1/incidents/{id}/retract");
    let retracted = app
        .authed(Method::POST, &retract, &operator)
        .json(&json!({ "reason": "Wrong city." }))
        .send()
        .await
        .unwrap();
    assert_eq!(retracted.status(), 200);
    wait_for_notices_delivered(&app, &operator, &id).await;

    let after = app.smtp.received()[before..].to_vec();
    assert_eq!(subjects_to(&after, &carl.email), ["Sent in error: Fire in Paris"]);
    assert_eq!(app.stats(&operator, &id).await["notifications"]["cancelled"], 1, "his prompt email");
}

/// Every outbox row and prompt email as `kind state recipient error`, to read when a test fails.
fn outbox_dump(app: &TestApp) -> String {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        line: String,
    }
    let mut conn = safecheck::db::pool_connect(app.database_url()).unwrap();
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT kind || ' ' || state || ' ' || recipient_email || ' ' || COALESCE(last_error, '') AS line \
         FROM notifications UNION ALL SELECT 'prompt ' || COALESCE(email_state, '-') || ' ' || user_id || ' ' \
         || COALESCE(email_error, '') AS line FROM prompts",
    )
    .load(&mut conn)
    .unwrap();
    rows.into_iter().map(|r| r.line).collect::<Vec<_>>().join("; ")
}
