//! The audit log keeps who changed a role (over the API or the command line) and who read or
//! exported an incident's people, how many rows.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, paris_circle, spawn_app};
use crate::roles::cli;

/// The audit log's entries, newest first.
async fn audit(app: &TestApp, reader: &TestUser) -> Vec<Value> {
    app.get_json("/v1/audit?limit=100", reader).await["items"].as_array().unwrap().clone()
}

fn with_action<'a>(entries: &'a [Value], action: &str) -> Vec<&'a Value> {
    entries.iter().filter(|e| e["action"] == action).collect()
}

#[tokio::test]
async fn an_admins_grant_and_revoke_are_audited_with_who_whom_and_what() {
    let app = spawn_app().await;
    let admin = app.new_user_with_role("admin").await;
    let user = app.new_user().await;
    let path = format!("/v1/admin/users/{}/roles", user.id);

    let granted =
        app.authed(Method::POST, &path, &admin).json(&json!({ "role": "operator" })).send().await.unwrap();
    assert_eq!(granted.status(), 200);
    let revoked = app.authed(Method::DELETE, &format!("{path}/operator"), &admin).send().await.unwrap();
    assert_eq!(revoked.status(), 200);
    // Revoking a role the user no longer has changes nothing, and records nothing.
    let again = app.authed(Method::DELETE, &format!("{path}/operator"), &admin).send().await.unwrap();
    assert_eq!(again.status(), 200);

    let entries = audit(&app, &admin).await;
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["role.revoke", "role.grant"]);
    let (revoke, grant) = (&entries[0], &entries[1]);
    for entry in [revoke, grant] {
        assert_eq!(entry["actor_id"], admin.id.as_str());
        assert_eq!(entry["actor_email"], admin.email.as_str());
        assert_eq!(entry["details"]["user_id"], user.id.as_str());
        assert_eq!(entry["details"]["user_email"], user.email.as_str());
        assert_eq!(entry["details"]["via"], "api");
    }
    assert_eq!(
        (grant["details"]["previous_role"].as_str(), grant["details"]["role"].as_str()),
        (Some("user"), Some("operator"))
    );
    assert_eq!(
        (revoke["details"]["previous_role"].as_str(), revoke["details"]["role"].as_str()),
        (Some("operator"), Some("user"))
    );
}

#[tokio::test]
async fn grants_from_the_command_line_are_audited_too() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let out = cli(&app, &["user", "grant", "--email", &user.email, "--role", "operator"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = cli(
        &app,
        &["user", "create", "--email", "boss@example.org", "--role", "admin", "--password-stdin"],
        "a good long password\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let reader = app.new_user_with_role("operator").await;
    let entries = audit(&app, &reader).await;
    let grants = with_action(&entries, "role.grant");
    assert_eq!(grants.len(), 2, "{entries:?}");
    let created = grants[0];
    assert_eq!(created["details"]["user_email"], "boss@example.org");
    assert_eq!(created["details"]["role"], "admin");
    assert_eq!(created["details"]["previous_role"], Value::Null);
    let granted = grants[1];
    assert_eq!(granted["details"]["user_id"], user.id.as_str());
    assert_eq!(granted["details"]["role"], "operator");
    assert_eq!(granted["details"]["previous_role"], "user");
    for grant in grants {
        assert_eq!(grant["details"]["via"], "cli");
        assert_eq!(grant["actor_id"], Value::Null, "no account acted: the server's own command line");
    }
}

#[tokio::test]
async fn reading_and_exporting_the_people_list_is_audited_with_the_row_count() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    for _ in 0..3 {
        app.user_at(48.8630, 2.3708).await;
    }
    let incident = app.activate(&operator, &paris_circle("Flood")).await;
    let incident = incident["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/incidents/{incident}/people");

    let page = app.get_json(&format!("{path}?limit=2"), &operator).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    // A page is recorded before it is sent: its record is there as soon as the page is.
    assert_eq!(with_action(&audit(&app, &operator).await, "people.list").len(), 1);
    let csv = app.authed(Method::GET, &path, &operator).header("Accept", "text/csv").send().await.unwrap();
    assert_eq!(csv.status(), 200);
    // So is an export, before its body is read.
    assert_eq!(with_action(&audit(&app, &operator).await, "people.export").len(), 1);
    let body = csv.text().await.unwrap();
    assert_eq!(body.split("\r\n").filter(|l| !l.is_empty()).count(), 4, "header and 3 rows");

    // The end of an export is recorded once its body ended.
    let mut entries = Vec::new();
    for _ in 0..200 {
        entries = audit(&app, &operator).await;
        if !with_action(&entries, "people.export.finished").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let listed = with_action(&entries, "people.list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["incident_id"], incident.as_str());
    assert_eq!(listed[0]["actor_id"], operator.id.as_str());
    assert_eq!(listed[0]["details"]["rows"], 2);
    let started = with_action(&entries, "people.export");
    assert_eq!(started.len(), 1, "{entries:?}");
    assert_eq!(started[0]["incident_id"], incident.as_str());
    assert_eq!(started[0]["actor_email"], operator.email.as_str());
    let finished = with_action(&entries, "people.export.finished");
    assert_eq!(finished.len(), 1, "{entries:?}");
    assert_eq!(finished[0]["actor_email"], operator.email.as_str());
    assert_eq!(finished[0]["details"]["rows"], 3);
    assert_eq!(finished[0]["details"]["complete"], true);
}
