//! One-tap answers from the prompt email itself: each link of a real prompt email, read back
//! from the SMTP sink, answers for its person; opening a link changes nothing; a second tap
//! records nothing again; a forged link or an ended incident's answers nothing.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{ReceivedMail, TestApp, TestUser, paris_circle, spawn_app};

/// The answer links of an email, by status word, pointed at the test server.
fn answer_links(app: &TestApp, mail: &ReceivedMail) -> Vec<String> {
    let data = mail.data.replace("=\r\n", "").replace("=3D", "=");
    let prefix = "https://safecheck.test/v1/answer/";
    let mut links = Vec::new();
    let mut rest = data.as_str();
    while let Some(at) = rest.find(prefix) {
        let token: String = rest[at + prefix.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_' || *c == '.')
            .collect();
        let link = app.url(&format!("/v1/answer/{token}"));
        if !links.contains(&link) {
            links.push(link);
        }
        rest = &rest[at + prefix.len()..];
    }
    links
}

async fn prompt_mail_to(app: &TestApp, user: &TestUser) -> ReceivedMail {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let found = app.smtp.received().into_iter().find(|m| {
            m.to == [user.email.as_str()]
                && m.header_text("subject").unwrap_or_default().starts_with("Are you safe?")
        });
        if let Some(mail) = found {
            return mail;
        }
        assert!(tokio::time::Instant::now() < deadline, "no prompt email to {}", user.email);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn add_contact(app: &TestApp, user: &TestUser, email: &str) {
    let body = json!({ "name": "Mum", "email": email });
    let response = app.authed(Method::POST, "/v1/me/contacts", user).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn each_link_of_a_prompt_email_answers_for_its_person_and_their_contacts_hear_of_it() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let mut people = Vec::new();
    for i in 0..3 {
        let user = app.user_at(48.8630 + f64::from(i) * 0.0001, 2.3708).await;
        add_contact(&app, &user, &format!("contact{i}@example.org")).await;
        people.push(user);
    }
    let incident = app.activate(&operator, &paris_circle("Fire in Paris")).await;
    let id = incident["id"].as_str().unwrap();

    let statuses = ["safe", "not_in_area", "need_help"];
    for (i, person) in people.iter().enumerate() {
        let mail = prompt_mail_to(&app, person).await;
        assert_eq!(mail.header("list-id").as_deref(), Some("<alerts.safecheck.safecheck.invalid>"));
        let links = answer_links(&app, &mail);
        assert_eq!(links.len(), 3, "three answers in the email");
        let page = app.client.get(&links[i]).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("<form method=\"post\">"));
        assert!(app.my_check_ins(person, id).await["current"].is_null(), "opening a link changes nothing");

        // A phone's text box sends its line breaks as CRLF.
        let message = if i == 0 { "at home\r\nkids ok" } else { "at home" };
        let done = app.client.post(&links[i]).form(&[("message", message)]).send().await.unwrap();
        assert_eq!(done.status(), 200);
        assert!(done.text().await.unwrap().contains("recorded"));
        let answers = app.my_check_ins(person, id).await;
        let expected = message.replace("\r\n", "\n");
        assert_eq!(
            (answers["current"]["status"].as_str(), answers["current"]["message"].as_str()),
            (Some(statuses[i]), Some(expected.as_str()))
        );
        if let Some(next) = people.get(i + 1) {
            assert!(
                app.my_check_ins(next, id).await["current"].is_null(),
                "a link answers for its person only"
            );
        }
    }
    app.wait_for_outbox_settled(Duration::from_secs(20)).await;

    let mail = app.smtp.received();
    let said = ["is safe", "is not in the affected area", "needs help"];
    for (i, said) in said.iter().enumerate() {
        let to_contact = format!("contact{i}@example.org");
        let subjects: Vec<String> = mail
            .iter()
            .filter(|m| m.to == [to_contact.as_str()])
            .filter_map(|m| m.header_text("subject"))
            .collect();
        assert!(subjects.iter().any(|s| s.contains(said)), "contact {i} heard the answer: {subjects:?}");
    }
}

#[tokio::test]
async fn a_second_tap_records_nothing_again_and_a_forged_or_ended_link_answers_nothing() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let ada = app.user_at(48.8630, 2.3708).await;
    let incident = app.activate(&operator, &paris_circle("Fire in Paris")).await;
    let id = incident["id"].as_str().unwrap();
    let links = answer_links(&app, &prompt_mail_to(&app, &ada).await);

    let first = app.client.post(&links[0]).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let again = app.client.post(&links[0]).send().await.unwrap();
    assert!(again.text().await.unwrap().contains("recorded already"));
    assert_eq!(
        app.my_check_ins(&ada, id).await["history"].as_array().unwrap().len(),
        1,
        "one answer, not two"
    );
    let shown = app.client.get(&links[0]).send().await.unwrap().text().await.unwrap();
    assert!(shown.contains("recorded already"), "{shown}");
    let too_long = app.client.post(&links[2]).form(&[("message", "x".repeat(281))]).send().await.unwrap();
    assert_eq!(too_long.status(), 422);
    assert_eq!(app.my_check_ins(&ada, id).await["current"]["status"], "safe", "nothing changed");

    // A token whose text was changed (another person, another answer) is not valid.
    let (base, token) = links[0].rsplit_once('/').unwrap();
    let (text, signature) = token.split_once('.').unwrap();
    let mut forged: Vec<char> = text.chars().collect();
    forged[5] = if forged[5] == 'A' { 'B' } else { 'A' };
    let forged = format!("{base}/{}.{signature}", forged.into_iter().collect::<String>());
    assert_eq!(app.client.post(&forged).send().await.unwrap().status(), 404);
    assert_eq!(app.client.get(app.url("/v1/answer/garbage")).send().await.unwrap().status(), 404);

    let resolve = format!("/v1/incidents/{id}/resolve");
    assert_eq!(app.authed(Method::POST, &resolve, &operator).send().await.unwrap().status(), 200);
    let ended = app.client.post(&links[2]).send().await.unwrap();
    assert_eq!(ended.status(), 410);
    let ended_page = ended.text().await.unwrap();
    assert!(ended_page.contains("has ended"), "{ended_page}");
    assert_eq!(app.client.get(&links[2]).send().await.unwrap().status(), 410);
    assert_eq!(app.my_check_ins(&ada, id).await["current"]["status"], "safe");
}
