//! Contacts opt in: one invitation each, fixed texts until they accept, the accept and
//! never-email-me links, and the per-user daily cap.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    Options, ReceivedMail, TestApp, TestUser, error_fields, paris_circle, problem, spawn_app, spawn_app_with,
};

const WAIT: Duration = Duration::from_secs(10);

/// The message's raw text with quoted-printable soft line breaks removed, so links read whole.
fn unfolded(mail: &ReceivedMail) -> String {
    mail.data.replace("=\r\n", "")
}

async fn contacts(app: &TestApp, user: &TestUser) -> Vec<Value> {
    app.get_json("/v1/me/contacts", user).await["items"].as_array().unwrap().clone()
}

async fn answer(app: &TestApp, user: &TestUser, incident: &str, status: &str, message: &str) {
    let response = app
        .authed(Method::POST, &format!("/v1/incidents/{incident}/check-ins"), user)
        .json(&json!({ "status": status, "message": message }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn adding_a_contact_invites_them_once_in_their_language_with_both_links() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    app.authed(Method::PATCH, "/v1/me", &user).json(&json!({ "display_name": "Ada" })).send().await.unwrap();
    let added: Value = app.add_contact(&user, "Mum", "mum@example.org", "fr").await.json().await.unwrap();
    assert_eq!(added["state"], "invited");

    let mail = app.smtp.wait_for(1, WAIT).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].to, ["mum@example.org"]);
    assert_eq!(mail[0].header_text("subject").unwrap(), "Ada vous a désigné(e) comme proche sur safecheck");
    let accept = app.accept_path(&user.id, "mum@example.org").await;
    assert!(unfolded(&mail[0]).contains(&format!("https://safecheck.test{accept}")), "the accept link");
    assert!(mail[0].header("list-unsubscribe").unwrap().contains("/v1/unsubscribe/"), "never email me");

    // Removed and listed again: no second invitation, ever.
    let path = format!("/v1/me/contacts/{}", added["id"].as_str().unwrap());
    assert_eq!(app.authed(Method::DELETE, &path, &user).send().await.unwrap().status(), 204);
    let again: Value =
        app.add_contact(&user, "Mum", "Mum+family@example.org", "fr").await.json().await.unwrap();
    assert_eq!(again["state"], "invited");
    app.wait_for_outbox_settled(WAIT).await;
    assert_eq!(app.smtp.count(), 1);
}

#[tokio::test]
async fn until_they_accept_a_contact_reads_only_the_name_and_status() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let incident = app.activate(&operator, &paris_circle("Fire in Paris")).await;
    let incident = incident["id"].as_str().unwrap();
    let user = app.new_user().await;
    app.authed(Method::PATCH, "/v1/me", &user).json(&json!({ "display_name": "Ada" })).send().await.unwrap();
    app.add_contact(&user, "Bob", "bob@example.org", "en").await;
    app.wait_for_outbox_settled(WAIT).await;
    app.smtp.clear();

    answer(&app, &user, incident, "safe", "my own words").await;
    let mail = app.smtp.wait_for(1, WAIT).await;
    assert_eq!(mail[0].header_text("subject").unwrap(), "Ada is safe");
    assert!(!mail[0].data.contains("my own words") && !mail[0].data.contains("Fire in Paris"));

    // The page alone changes nothing (mail scanners follow links); its button does.
    let accept = app.accept_path(&user.id, "bob@example.org").await;
    let page = app.get(&accept).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<p lang=\"en\">Ada listed") && html.contains("<p lang=\"fr\">Ada a désigné"),
        "{html}"
    );
    assert_eq!(contacts(&app, &user).await[0]["state"], "invited");
    let accepted = app.client.post(app.url(&accept)).send().await.unwrap();
    assert_eq!(accepted.status(), 200);
    let html = accepted.text().await.unwrap();
    assert!(
        html.contains("<p lang=\"en\">Accepted.") && html.contains("<p lang=\"fr\">C'est accepté."),
        "{html}"
    );
    assert_eq!(contacts(&app, &user).await[0]["state"], "accepted");

    answer(&app, &user, incident, "need_help", "second words").await;
    let mail = app.smtp.wait_for(2, WAIT).await;
    assert!(mail[1].data.contains("second words") && mail[1].data.contains("Fire in Paris"));

    problem(app.client.post(app.url("/v1/invitations/forged.token")).send().await.unwrap(), 404).await;
}

#[tokio::test]
async fn the_daily_invitation_cap_is_a_429_naming_the_limit_with_retry_after() {
    let app = spawn_app_with(Options {
        env: vec![("SAFECHECK_MAX_INVITATIONS_PER_USER_PER_DAY", "2".into())],
        ..Default::default()
    })
    .await;
    let user = app.new_user().await;
    for i in 0..2 {
        assert_eq!(app.add_contact(&user, "C", &format!("c{i}@example.org"), "en").await.status(), 201);
    }
    let refused = app.add_contact(&user, "C", "c2@example.org", "en").await;
    let retry_after: i64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after > 0 && retry_after <= 24 * 3600, "{retry_after}");
    assert_eq!(error_fields(&problem(refused, 429).await), ["invitations_per_day"]);
    assert_eq!(contacts(&app, &user).await.len(), 2, "a refusal adds nothing");

    app.clock.advance(chrono::Duration::hours(24));
    assert_eq!(app.add_contact(&user, "C", "c2@example.org", "en").await.status(), 201);
}

#[tokio::test]
async fn an_address_invited_recently_by_someone_else_can_still_accept_from_the_check_in_emails() {
    let app = spawn_app_with(Options {
        env: vec![("SAFECHECK_INVITATION_PERIOD_SECS", "7200".into())],
        ..Default::default()
    })
    .await;
    let operator = app.new_user_with_role("operator").await;
    let incident = app.activate(&operator, &paris_circle("Fire in Paris")).await;
    let incident = incident["id"].as_str().unwrap();
    let (first, second) = (app.new_user().await, app.new_user().await);
    app.authed(Method::PATCH, "/v1/me", &second)
        .json(&json!({ "display_name": "Léa" }))
        .send()
        .await
        .unwrap();
    let invited: Value =
        app.add_contact(&first, "Gran", "gran@example.org", "en").await.json().await.unwrap();
    assert_eq!(invited["state"], "invited");
    // Listed again within the period, by someone else: no second invitation email.
    let pending: Value =
        app.add_contact(&second, "Gran", "Gran+x@example.org", "en").await.json().await.unwrap();
    assert_eq!(pending["state"], "pending");
    // Gran accepting the first listing does not cover the second.
    let accept_first = app.accept_path(&first.id, "gran@example.org").await;
    assert_eq!(app.client.post(app.url(&accept_first)).send().await.unwrap().status(), 200);
    assert_eq!(contacts(&app, &second).await[0]["state"], "pending");
    app.wait_for_outbox_settled(WAIT).await;
    assert_eq!(app.smtp.count(), 1);
    app.smtp.clear();

    // The first lister cannot keep Gran from hearing Léa's own words: Léa's fixed-text email
    // carries Léa's accept link.
    answer(&app, &second, incident, "safe", "at Marc's, all fine").await;
    let mail = app.smtp.wait_for(1, WAIT).await;
    assert_eq!(mail[0].header_text("subject").unwrap(), "Léa is safe");
    assert!(!mail[0].data.contains("at Marc's"), "no free text before acceptance");
    let accept = app.accept_path(&second.id, "gran@example.org").await;
    assert!(unfolded(&mail[0]).contains(&format!("https://safecheck.test{accept}")), "the accept link");
    let page = app.get(&accept).await.text().await.unwrap();
    assert!(page.contains("Léa listed"), "{page}");
    assert_eq!(app.client.post(app.url(&accept)).send().await.unwrap().status(), 200);
    assert_eq!(contacts(&app, &second).await[0]["state"], "accepted");
    answer(&app, &second, incident, "need_help", "now at the hospital").await;
    let mail = app.smtp.wait_for(2, WAIT).await;
    assert!(mail[1].data.contains("now at the hospital") && mail[1].data.contains("Fire in Paris"));
    assert!(!unfolded(&mail[1]).contains(&accept), "nothing left to accept");

    // A contact still pending after the period, removed and listed again, is emailed then.
    let third = app.new_user().await;
    let held: Value = app.add_contact(&third, "Gran", "gran@example.org", "en").await.json().await.unwrap();
    assert_eq!(held["state"], "pending");
    app.clock.advance(chrono::Duration::hours(2));
    let path = format!("/v1/me/contacts/{}", held["id"].as_str().unwrap());
    app.authed(Method::DELETE, &path, &third).send().await.unwrap();
    app.smtp.clear();
    let relisted: Value =
        app.add_contact(&third, "Gran", "gran@example.org", "en").await.json().await.unwrap();
    assert_eq!(relisted["state"], "invited");
    let mail = app.smtp.wait_for(1, WAIT).await;
    assert!(unfolded(&mail[0]).contains(&app.accept_path(&third.id, "gran@example.org").await));
}

#[tokio::test]
async fn a_link_naming_an_address_the_user_never_listed_accepts_nothing() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let stranger = app.accept_path(&user.id, "stranger@example.org").await;
    problem(app.get(&stranger).await, 404).await;
    problem(app.client.post(app.url(&stranger)).send().await.unwrap(), 404).await;
}

#[tokio::test]
async fn a_worker_with_its_own_data_dir_and_jwt_key_accepts_the_same_links_a_year_later() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    app.add_contact(&user, "Mum", "mum@example.org", "en").await;
    let mail = app.smtp.wait_for(1, WAIT).await;
    let link = mail[0].header("list-unsubscribe").unwrap();
    let path = link.trim_start_matches("<https://safecheck.test").trim_end_matches('>').to_owned();

    let elsewhere = tempfile::tempdir().unwrap();
    let dir = elsewhere.path().display().to_string();
    let sibling = app
        .spawn_sibling(&[
            ("SAFECHECK_DATA_DIR", dir.as_str()),
            ("SAFECHECK_JWT_SECRET", "a-rotated-secret-a-rotated-secret-a-rotated"),
        ])
        .await;
    let accept = app.accept_path(&user.id, "mum@example.org").await;
    // Over a year later.
    app.clock.advance(chrono::Duration::days(400));
    assert_eq!(app.client.get(format!("{sibling}{path}")).send().await.unwrap().status(), 200);
    assert_eq!(app.client.post(format!("{sibling}{accept}")).send().await.unwrap().status(), 200);
    assert_eq!(app.client.post(format!("{sibling}{path}")).send().await.unwrap().status(), 200);
    // The user's token ran out in that year: they log in again to look.
    let tokens: Value = app.login(&user.email, &user.password).await.json().await.unwrap();
    let user = TestUser { access_token: tokens["access_token"].as_str().unwrap().to_owned(), ..user };
    assert_eq!(contacts(&app, &user).await[0]["state"], "unsubscribed");
}
