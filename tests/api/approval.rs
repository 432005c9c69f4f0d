//! The two-person rule: an activation over more people than the threshold waits for a second
//! operator, who approves or rejects it; the one who made it cannot approve it; an approval
//! after the wait ran out is refused.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, TestUser, error_fields, paris_circle, problem, spawn_app_with};

/// Activations over more than two people wait for approval.
async fn app() -> TestApp {
    spawn_app_with(Options { env: vec![("SAFECHECK_APPROVAL_THRESHOLD", "2".into())], ..Default::default() })
        .await
}

async fn decide(
    app: &TestApp,
    operator: &TestUser,
    id: &str,
    what: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.authed(Method::POST, &format!("/v1/incidents/{id}/{what}"), operator);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn three_inside(app: &TestApp) -> Vec<TestUser> {
    let mut users = Vec::new();
    for i in 0..3 {
        users.push(app.user_at(48.8630 + f64::from(i) * 0.0001, 2.3708).await);
    }
    users
}

#[tokio::test]
async fn a_large_activation_waits_for_a_second_operator_and_its_creator_cannot_approve_it() {
    let app = app().await;
    let alice = app.new_user_with_role("operator").await;
    let bruno = app.new_user_with_role("operator").await;
    let people = three_inside(&app).await;
    let mut dry = paris_circle("Fire");
    dry["dry_run"] = json!(true);
    let preview: Value = app.create_incident(&alice, &dry).await.json().await.unwrap();
    assert_eq!(
        (preview["would_prompt"].as_i64(), preview["approval_required"].as_bool()),
        (Some(3), Some(true))
    );

    let created = app.create_incident(&alice, &paris_circle("Fire")).await;
    assert_eq!(created.status(), 202);
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["status"], "pending_approval");
    assert_eq!(created["approval"]["would_prompt_at_least"], 3);
    tokio::time::sleep(Duration::from_millis(500)).await; // the fan-out job polls every 250 ms
    assert!(app.prompts(&people[0]).await.is_empty(), "nobody is prompted before approval");
    let own = decide(&app, &alice, id, "approve", None).await;
    assert_eq!(own.status(), 403, "the creator cannot approve their own activation");

    let approved = decide(&app, &bruno, id, "approve", None).await;
    assert_eq!(approved.status(), 200);
    let approved: Value = approved.json().await.unwrap();
    let done = app.wait_for_fanout(&alice, id).await;

    assert_eq!(approved["status"], "active");
    assert!(approved["approval"]["approved_at"].is_string());
    assert_eq!(done["fanout"]["prompts_created"], 3);
    problem(decide(&app, &bruno, id, "approve", None).await, 409).await;
    let actions = app.audit_actions(&alice).await;
    assert!(actions.contains(&"incident.approve".to_owned()), "{actions:?}");
}

#[tokio::test]
async fn an_approval_after_the_wait_ran_out_is_refused_and_a_rejection_prompts_nobody() {
    let app = app().await;
    let alice = app.new_user_with_role("operator").await;
    let bruno = app.new_user_with_role("operator").await;
    let people = three_inside(&app).await;
    let late: Value = app.create_incident(&alice, &paris_circle("Too late")).await.json().await.unwrap();
    let rejected: Value = app.create_incident(&alice, &paris_circle("Too wide")).await.json().await.unwrap();
    let (late, rejected) = (late["id"].as_str().unwrap(), rejected["id"].as_str().unwrap());

    let refused = decide(&app, &bruno, rejected, "reject", Some(json!({ "reason": "" }))).await;
    assert_eq!(error_fields(&problem(refused, 422).await), ["reason"]);
    let no =
        decide(&app, &bruno, rejected, "reject", Some(json!({ "reason": "Draw the district only." }))).await;
    assert_eq!(no.status(), 200);
    let no: Value = no.json().await.unwrap();
    app.clock.advance(chrono::Duration::seconds(901));
    let expired = decide(&app, &bruno, late, "approve", None).await;

    problem(expired, 409).await;
    assert_eq!(
        (no["status"].as_str(), no["resolution_note"].as_str()),
        (Some("rejected"), Some("Draw the district only."))
    );
    problem(decide(&app, &bruno, rejected, "approve", None).await, 409).await;
    let shown = app.incident(&alice, late).await;
    assert_eq!(
        (shown["status"].as_str(), shown["resolution"].as_str()),
        (Some("rejected"), Some("approval_expired"))
    );
    assert!(app.prompts(&people[0]).await.is_empty(), "nobody was prompted");
    let actions = app.audit_actions(&alice).await;
    for action in ["incident.reject", "incident.approval_expire"] {
        assert!(actions.contains(&action.to_owned()), "{action} in {actions:?}");
    }
}

#[tokio::test]
async fn an_activation_at_or_under_the_threshold_starts_at_once() {
    let app = app().await;
    let alice = app.new_user_with_role("operator").await;
    app.user_at(48.8630, 2.3708).await;
    app.user_at(48.8631, 2.3709).await;

    let created = app.create_incident(&alice, &paris_circle("Small")).await;

    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!((created["status"].as_str(), created["approval"].is_null()), (Some("active"), true));
}

#[tokio::test]
async fn an_activation_whose_own_expiry_passed_while_it_waited_cannot_be_approved() {
    let app = app().await;
    let alice = app.new_user_with_role("operator").await;
    let bruno = app.new_user_with_role("operator").await;
    three_inside(&app).await;
    let mut body = paris_circle("Short");
    body["expires_at"] = json!((chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339());
    let created: Value = app.create_incident(&alice, &body).await.json().await.unwrap();
    let id = created["id"].as_str().unwrap();

    app.clock.advance(chrono::Duration::minutes(11));
    let refused = decide(&app, &bruno, id, "approve", None).await;

    let problem = problem(refused, 409).await;
    assert!(problem["detail"].as_str().unwrap().contains("expiry"), "{problem}");
    assert_eq!(app.incident(&alice, id).await["status"], "pending_approval");
}
