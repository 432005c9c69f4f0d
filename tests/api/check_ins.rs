//! Check-ins: answers, history, idempotency, and the emails they send to contacts.

use std::time::Duration;

use reqwest::Method;
use safecheck::clock::{Clock as _, SystemClock};
use serde_json::{Value, json};

use crate::helpers::{
    Options, TestApp, TestUser, error_fields, paris_circle, problem, spawn_app, spawn_app_with,
};

const WAIT: Duration = Duration::from_secs(10);

async fn add_contact(app: &TestApp, user: &TestUser, name: &str, email: &str, locale: &str) {
    let response = app
        .authed(Method::POST, "/v1/me/contacts", user)
        .json(&json!({ "name": name, "email": email, "locale": locale }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

async fn check_in(
    app: &TestApp,
    user: &TestUser,
    incident: &str,
    body: Value,
    key: Option<&str>,
) -> reqwest::Response {
    let mut request =
        app.authed(Method::POST, &format!("/v1/incidents/{incident}/check-ins"), user).json(&body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.unwrap()
}

/// An operator, an active incident nobody is prompted for, and a user with three contacts who
/// accepted their invitations, whose last fix is far from the area (so no prompt email of theirs
/// mixes in). The sink is empty when it returns.
async fn scene(app: &TestApp) -> (TestUser, String, TestUser) {
    let operator = app.new_user_with_role("operator").await;
    let incident = app.activate(&operator, &paris_circle("Fire in Paris")).await;
    let user = app.new_user().await;
    app.authed(Method::PATCH, "/v1/me", &user).json(&json!({ "display_name": "Ada" })).send().await.unwrap();
    app.put_location(&user, 43.2965, 5.3698).await; // Marseille
    add_contact(app, &user, "Mum", "mum@example.org", "fr").await;
    add_contact(app, &user, "Bob", "bob@example.org", "en").await;
    add_contact(app, &user, "Zoé", "zoe@example.org", "fr").await;
    app.accept_all_invitations(&user).await;
    (operator, incident["id"].as_str().unwrap().to_owned(), user)
}

#[tokio::test]
async fn a_check_in_emails_each_contact_once_in_their_language_with_unsubscribe_headers() {
    let app = spawn_app().await;
    let (_, incident, user) = scene(&app).await;
    let response =
        check_in(&app, &user, &incident, json!({ "status": "safe", "message": "I'm fine, at home" }), None)
            .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "safe");
    assert_eq!(body["notifications_queued"], 3);

    app.wait_for_outbox_settled(WAIT).await;
    let mail = app.smtp.received();
    assert_eq!(mail.len(), 3);
    let subject_to =
        |to: &str| mail.iter().find(|m| m.to == [to]).and_then(|m| m.header_text("subject")).unwrap();
    assert_eq!(subject_to("mum@example.org"), "Ada est en sécurité");
    assert_eq!(subject_to("zoe@example.org"), "Ada est en sécurité");
    assert_eq!(subject_to("bob@example.org"), "Ada is safe");
    for m in &mail {
        let unsubscribe = m.header("list-unsubscribe").unwrap();
        assert!(unsubscribe.starts_with("<https://safecheck.test/v1/unsubscribe/"), "{unsubscribe}");
        assert_eq!(m.header("list-unsubscribe-post").as_deref(), Some("List-Unsubscribe=One-Click"));
        assert!(m.header("message-id").unwrap().contains('@'));
        assert!(m.header("date").is_some(), "a Date header");
        assert_eq!(m.header("auto-submitted").as_deref(), Some("auto-generated"), "no auto-reply comes back");
        assert_eq!(m.header("list-id").as_deref(), Some("<contacts.safecheck.safecheck.invalid>"));
        assert!(m.data.contains("at home"));
        assert!(!m.data.contains("43.29") && !m.data.contains("5.369"), "no email carries the location");
    }
}

#[tokio::test]
async fn a_retried_request_with_its_idempotency_key_changes_nothing() {
    let app = spawn_app().await;
    let (_, incident, user) = scene(&app).await;
    let body = json!({ "status": "safe" });
    let first = check_in(&app, &user, &incident, body.clone(), Some("key-1")).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = check_in(&app, &user, &incident, body.clone(), Some("key-1")).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);

    app.wait_for_outbox_settled(WAIT).await;
    assert_eq!(app.smtp.received().len(), 3);
    let mine: Value = app.my_check_ins(&user, &incident).await;
    assert_eq!(mine["history"].as_array().unwrap().len(), 1);

    let other_body = check_in(&app, &user, &incident, json!({ "status": "need_help" }), Some("key-1")).await;
    assert_eq!(error_fields(&problem(other_body, 422).await), ["Idempotency-Key"]);
}

#[tokio::test]
async fn a_key_still_in_use_is_a_409() {
    let app = spawn_app().await;
    let (_, incident, user) = scene(&app).await;
    let (url, user_id) = (app.database_url().clone(), user.id.clone());
    tokio::task::spawn_blocking(move || {
        let mut conn = safecheck::db::pool_connect(&url).unwrap();
        let now = SystemClock.now();
        let begun = safecheck::db::idempotency::begin(
            &mut conn,
            &user_id,
            "busy",
            "some-hash",
            now,
            chrono::Duration::hours(24),
            chrono::Duration::seconds(60),
        )
        .unwrap();
        assert_eq!(begun, safecheck::db::idempotency::Begin::Started);
    })
    .await
    .unwrap();
    problem(check_in(&app, &user, &incident, json!({ "status": "safe" }), Some("busy")).await, 409).await;
}

#[tokio::test]
async fn a_changed_status_notifies_again_and_the_same_status_does_not() {
    let app = spawn_app().await;
    let (operator, incident, user) = scene(&app).await;
    check_in(&app, &user, &incident, json!({ "status": "safe" }), None).await;
    assert_eq!(app.smtp.wait_for(3, WAIT).await.len(), 3);
    let changed =
        check_in(&app, &user, &incident, json!({ "status": "need_help", "message": "stuck" }), None).await;
    assert_eq!(changed.json::<Value>().await.unwrap()["notifications_queued"], 3);
    assert_eq!(app.smtp.wait_for(6, WAIT).await.len(), 6);
    let same =
        check_in(&app, &user, &incident, json!({ "status": "need_help", "message": "still stuck" }), None)
            .await;
    assert_eq!(same.json::<Value>().await.unwrap()["notifications_queued"], 0);
    app.wait_for_outbox_settled(WAIT).await;
    assert_eq!(app.smtp.received().len(), 6);

    let mine: Value = app.my_check_ins(&user, &incident).await;
    assert_eq!(mine["current"]["status"], "need_help");
    assert_eq!(mine["current"]["message"], "still stuck");
    let statuses: Vec<&str> =
        mine["history"].as_array().unwrap().iter().map(|c| c["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["need_help", "need_help", "safe"]);

    let stats: Value = app.stats(&operator, &incident).await;
    assert_eq!(stats["need_help"], 1);
    assert_eq!(stats["notifications"]["sent"], 6);
}

#[tokio::test]
async fn an_unsubscribed_contact_gets_nothing_more() {
    let app = spawn_app().await;
    let (_, incident, user) = scene(&app).await;
    check_in(&app, &user, &incident, json!({ "status": "safe" }), None).await;
    let mail = app.smtp.wait_for(3, WAIT).await;
    let to_mum = mail.iter().find(|m| m.to == ["mum@example.org"]).unwrap();
    let link = to_mum.header("list-unsubscribe").unwrap();
    let link = link.trim_start_matches('<').trim_end_matches('>');
    let path = link.strip_prefix("https://safecheck.test").unwrap();

    let page = app.get(path).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("mum@example.org") && !html.contains("Ada"),
        "the page never says who listed the address"
    );
    assert!(
        html.contains("<p lang=\"en\">Stop all emails") && html.contains("<p lang=\"fr\">Ne plus jamais")
    );
    // RFC 8058 one-click: the mail client POSTs this exact form body.
    let response = app
        .client
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    problem(app.client.post(app.url("/v1/unsubscribe/forged.token")).send().await.unwrap(), 404).await;

    check_in(&app, &user, &incident, json!({ "status": "need_help" }), None).await;
    app.wait_for_outbox_settled(WAIT).await;
    let after: Vec<_> = app.smtp.received().into_iter().skip(3).collect();
    assert_eq!(after.len(), 2);
    assert!(after.iter().all(|m| m.to != ["mum@example.org"]));
}

#[tokio::test]
async fn a_451_is_retried_and_then_delivered() {
    let app = spawn_app_with(Options {
        env: vec![("SAFECHECK_DELIVERY_RETRY_BASE_MS", "50".into())],
        ..Default::default()
    })
    .await;
    let (operator, incident, user) = scene(&app).await;
    app.smtp.reply_to_next_data(&["451 4.3.0 try again later"]);
    check_in(&app, &user, &incident, json!({ "status": "safe" }), None).await;
    assert_eq!(app.smtp.wait_for(3, WAIT).await.len(), 3, "all three arrive, one after a retry");
    let stats: Value = app.stats(&operator, &incident).await;
    assert_eq!(stats["notifications"]["failed"], 0);
}

#[tokio::test]
async fn a_550_marks_the_notification_failed_in_stats() {
    let app = spawn_app().await;
    let (operator, incident, user) = scene(&app).await;
    app.smtp.reply_to_next_data(&["550 5.1.1 no such mailbox"]);
    check_in(&app, &user, &incident, json!({ "status": "safe" }), None).await;
    app.smtp.wait_for(2, WAIT).await;
    let mut stats = Value::Null;
    for _ in 0..100 {
        stats = app.stats(&operator, &incident).await;
        if stats["notifications"]["failed"] == 1 && stats["notifications"]["sent"] == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stats["notifications"]["failed"], 1, "{stats}");
    assert_eq!(stats["notifications"]["sent"], 2);
}

#[tokio::test]
async fn a_resolved_incident_takes_no_answer_and_an_unknown_one_is_404() {
    let app = spawn_app().await;
    let (operator, incident, user) = scene(&app).await;
    app.authed(Method::POST, &format!("/v1/incidents/{incident}/resolve"), &operator).send().await.unwrap();
    problem(check_in(&app, &user, &incident, json!({ "status": "safe" }), Some("k")).await, 409).await;
    problem(check_in(&app, &user, "no-such-incident", json!({ "status": "safe" }), None).await, 404).await;
    app.wait_for_outbox_settled(WAIT).await;
    assert!(app.smtp.received().is_empty());
}

#[tokio::test]
async fn bad_answers_name_their_field() {
    let app = spawn_app().await;
    let (_, incident, user) = scene(&app).await;
    let response = check_in(&app, &user, &incident, json!({ "status": "fine" }), None).await;
    assert_eq!(error_fields(&problem(response, 400).await), ["status"]);
    let response =
        check_in(&app, &user, &incident, json!({ "status": "safe", "message": "x".repeat(281) }), None).await;
    assert_eq!(error_fields(&problem(response, 422).await), ["message"]);
    let response =
        check_in(&app, &user, &incident, json!({ "status": "safe" }), Some(&"k".repeat(256))).await;
    assert_eq!(error_fields(&problem(response, 422).await), ["Idempotency-Key"]);
}

#[tokio::test]
async fn answering_closes_the_prompt_and_prompted_users_get_an_email() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let user = app.new_user().await;
    app.put_location(&user, 48.8630, 2.3708).await;
    let incident = app.activate(&operator, &paris_circle("Fire")).await;
    let mail = app.smtp.wait_for(1, WAIT).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].to, [user.email.as_str()]);
    assert!(mail[0].header_text("subject").unwrap().starts_with("Are you safe?"));
    assert_eq!(app.prompts(&user).await.len(), 1);
    let id = incident["id"].as_str().unwrap();
    assert_eq!(check_in(&app, &user, id, json!({ "status": "safe" }), None).await.status(), 201);
    assert!(app.prompts(&user).await.is_empty());
    let stats: Value = app.stats(&operator, id).await;
    assert_eq!(stats["prompted"], 1);
    assert_eq!(stats["safe"], 1);
    assert_eq!(stats["no_response"], 0);
}

#[tokio::test]
async fn the_hourly_cap_per_recipient_stops_a_spam_relay() {
    let app = spawn_app_with(Options {
        env: vec![("SAFECHECK_MAX_EMAILS_PER_RECIPIENT_PER_HOUR", "2".into())],
        ..Default::default()
    })
    .await;
    let (operator, incident, user) = scene(&app).await;
    // The invitations counted in the hour they went out.
    app.clock.advance(chrono::Duration::hours(1));
    for status in ["safe", "need_help", "not_in_area"] {
        check_in(&app, &user, &incident, json!({ "status": status }), None).await;
    }
    app.wait_for_outbox_settled(WAIT).await;
    assert_eq!(app.smtp.received().len(), 6, "two per contact, the third dropped");
    let stats: Value = app.stats(&operator, &incident).await;
    assert_eq!(stats["notifications"]["dropped"], 3);
}

/// Answers sent at once are each recorded and emailed once, and the refused ones (to an
/// incident that has ended) spoil none of the others. On SQLite they go through the one writer
/// that commits them several to a transaction, each in its own savepoint: its metrics count
/// every answer, refused ones included.
#[tokio::test]
async fn answers_sent_at_once_are_each_recorded_and_a_refused_one_spoils_none_of_the_others() {
    const TOKEN: &str = "scrape-token-0123456789";
    let app = spawn_app_with(Options {
        env: vec![("SAFECHECK_METRICS_TOKEN", TOKEN.into())],
        ..Default::default()
    })
    .await;
    let operator = app.new_user_with_role("operator").await;
    let active =
        app.activate(&operator, &paris_circle("Fire in Paris")).await["id"].as_str().unwrap().to_owned();
    let ended = app.activate(&operator, &paris_circle("Flood")).await["id"].as_str().unwrap().to_owned();
    app.authed(Method::POST, &format!("/v1/incidents/{ended}/resolve"), &operator).send().await.unwrap();
    let mut users = Vec::new();
    for n in 0..20 {
        let user = app.new_user().await;
        assert_eq!(app.add_contact(&user, "Mum", &format!("mum{n}@example.org"), "en").await.status(), 201);
        users.push(user);
    }
    app.wait_for_outbox_settled(WAIT).await;
    let before = app.smtp.received().len();

    let mut answers = Vec::new();
    for (n, user) in users.iter().enumerate() {
        let mut incidents = vec![(active.clone(), 201)];
        if n % 4 == 0 {
            incidents.push((ended.clone(), 409));
        }
        for (incident, expected) in incidents {
            let request = app
                .authed(Method::POST, &format!("/v1/incidents/{incident}/check-ins"), user)
                .json(&json!({ "status": "safe", "message": format!("answer {n}") }));
            answers.push(tokio::spawn(
                async move { (request.send().await.unwrap().status().as_u16(), expected) },
            ));
        }
    }
    for answer in answers {
        let (status, expected) = answer.await.unwrap();
        assert_eq!(status, expected);
    }

    for user in &users {
        assert_eq!(app.my_check_ins(user, &active).await["history"].as_array().unwrap().len(), 1);
        let refused = app.authed(Method::GET, &format!("/v1/incidents/{ended}/check-ins/me"), user);
        let refused: Value = refused.send().await.unwrap().json().await.unwrap();
        assert!(refused["history"].as_array().is_none_or(Vec::is_empty), "{refused}");
    }
    app.wait_for_outbox_settled(WAIT).await;
    let mut to: Vec<String> = app.smtp.received()[before..].iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    let mut expected: Vec<String> = (0..20).map(|n| format!("mum{n}@example.org")).collect();
    expected.sort();
    assert_eq!(to, expected, "one email to each contact");

    if matches!(app.database_url(), safecheck::db::DatabaseUrl::Sqlite(_)) {
        let metrics = app.client.get(app.url("/metrics")).bearer_auth(TOKEN).send().await.unwrap();
        let metrics = metrics.text().await.unwrap();
        let figure = |name: &str| -> u64 {
            let line = metrics.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap();
            line.rsplit(' ').next().unwrap().parse().unwrap()
        };
        assert_eq!(figure("safecheck_answer_group_writes_total"), 25);
        let groups = figure("safecheck_answer_groups_total");
        assert!((1..=25).contains(&groups), "{groups} groups");
        assert_eq!(figure("safecheck_answer_groups_failed_total"), 0);
    }
}
