//! The outbox's lanes: a contact's check-in email goes out before any prompt or reminder email
//! that was already waiting, however many there are: the emails prompts carry, and the outbox's
//! own rows of the people lane. Invitations go last, after all of them.

use std::time::Duration;

use reqwest::Method;
use safecheck::domain::NotificationKind;
use serde_json::json;

use crate::helpers::{Options, paris_circle, spawn_app_with};

#[tokio::test]
async fn a_contacts_check_in_email_overtakes_a_backlog_of_prompt_emails() {
    // This app only queues; a sibling delivers once the backlog and the check-in both wait,
    // claiming 10 messages at a time over one SMTP connection, so the order in which messages
    // are claimed and sent shows in the order of arrival.
    let app = spawn_app_with(Options {
        env: vec![("SAFECHECK_JOBS", "housekeeping,fanout,expiry".into())],
        ..Default::default()
    })
    .await;
    app.queue_emails(NotificationKind::Reminder, 200).await;
    for i in 0..100 {
        app.user_at(48.8630 + f64::from(i) * 0.0001, 2.3708).await;
    }
    let operator = app.new_user_with_role("operator").await;
    let incident = app.activate(&operator, &paris_circle("Fire in Paris")).await;
    assert_eq!(incident["fanout"]["prompts_created"], 100);
    let user = app.new_user().await;
    app.authed(Method::POST, "/v1/me/contacts", &user)
        .json(&json!({ "name": "Mum", "email": "mum@example.org" }))
        .send()
        .await
        .unwrap();
    let path = format!("/v1/incidents/{}/check-ins", incident["id"].as_str().unwrap());
    let answered =
        app.authed(Method::POST, &path, &user).json(&json!({ "status": "safe" })).send().await.unwrap();
    assert_eq!(answered.status(), 201);

    app.spawn_sibling(&[
        ("SAFECHECK_JOBS", "delivery"),
        ("SAFECHECK_SMTP_CONNECTIONS", "1"),
        ("SAFECHECK_DELIVERY_BATCH", "10"),
    ])
    .await;
    let mail = app.smtp.wait_for(302, Duration::from_secs(60)).await;

    assert_eq!(mail.len(), 302, "every email was delivered: 100 prompts, 200 reminders, mum's two");
    let is_invitation = |m: &crate::helpers::ReceivedMail| {
        m.header_text("subject").unwrap().contains("listed you as a contact")
    };
    let position = mail
        .iter()
        .position(|m| m.to == ["mum@example.org"] && !is_invitation(m))
        .expect("mum's check-in email arrived");
    assert_eq!(position, 0, "the check-in email went out first, not after {position} prompts");
    let invited = mail.iter().position(is_invitation).expect("mum's invitation arrived");
    assert!(invited >= 300, "the invitation went out after every prompt and reminder, not at {invited}");
}

#[tokio::test]
async fn a_contacts_check_in_email_overtakes_a_backlog_of_official_updates_which_follow_the_prompts() {
    // As above: this app only queues, a sibling delivers one message at a time.
    let app = spawn_app_with(Options {
        env: vec![("SAFECHECK_JOBS", "housekeeping,fanout,notices,expiry".into())],
        ..Default::default()
    })
    .await;
    app.queue_emails(NotificationKind::OfficialUpdate, 100).await;
    app.queue_emails(NotificationKind::Reminder, 50).await;
    let operator = app.new_user_with_role("operator").await;
    let incident = app.activate(&operator, &paris_circle("Fire in Paris")).await;
    let user = app.new_user().await;
    app.authed(Method::POST, "/v1/me/contacts", &user)
        .json(&json!({ "name": "Mum", "email": "mum@example.org" }))
        .send()
        .await
        .unwrap();
    let path = format!("/v1/incidents/{}/check-ins", incident["id"].as_str().unwrap());
    let answered =
        app.authed(Method::POST, &path, &user).json(&json!({ "status": "safe" })).send().await.unwrap();
    assert_eq!(answered.status(), 201);

    app.spawn_sibling(&[
        ("SAFECHECK_JOBS", "delivery"),
        ("SAFECHECK_SMTP_CONNECTIONS", "1"),
        ("SAFECHECK_DELIVERY_BATCH", "10"),
    ])
    .await;
    let mail = app.smtp.wait_for(152, Duration::from_secs(60)).await;

    assert_eq!(mail.len(), 152, "every email was delivered: 100 updates, 50 reminders, mum's two");
    let subject = |m: &crate::helpers::ReceivedMail| m.header_text("subject").unwrap();
    let position = mail
        .iter()
        .position(|m| m.to == ["mum@example.org"] && subject(m).contains("is safe"))
        .expect("mum's check-in email arrived");
    assert_eq!(position, 0, "the check-in email went out first, not after {position} updates");
    let first_update = mail.iter().position(|m| subject(m).starts_with("[Official update]")).unwrap();
    let last_reminder = mail.iter().rposition(|m| subject(m).starts_with("Reminder")).unwrap();
    assert!(last_reminder < first_update, "the people lane goes before the notices lane");
}
