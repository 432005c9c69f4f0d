//! Roles: the CLI makes the first admin; admins grant and revoke over the API.

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, problem, spawn_app};

pub(crate) fn cli(app: &TestApp, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_safecheck"))
        .args(args)
        .env("SAFECHECK_DATABASE_URL", app.db.url(None))
        .env("SAFECHECK_DATA_DIR", &app.config.data_dir)
        .env("SAFECHECK_ARGON2_MEMORY_KIB", "256")
        .env("SAFECHECK_ARGON2_ITERATIONS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn the_cli_creates_an_admin_who_can_log_in() {
    let app = spawn_app().await;
    let out = cli(
        &app,
        &["user", "create", "--email", "Boss@Example.org", "--role", "admin", "--password-stdin"],
        "the boss password\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let response = app.login("boss@example.org", "the boss password").await;
    assert_eq!(response.status(), 200);
    let token: Value = response.json().await.unwrap();
    let me: Value = app
        .client
        .get(app.url("/v1/me"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "admin");
}

#[tokio::test]
async fn the_cli_grants_a_role_and_refuses_bad_input() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let out = cli(&app, &["user", "grant", "--email", &user.email, "--role", "operator"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let me: Value = app.authed(Method::GET, "/v1/me", &user).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["role"], "operator");
    let out = cli(&app, &["user", "grant", "--email", &user.email, "--role", "king"], "");
    assert!(!out.status.success());
    let out = cli(&app, &["user", "create", "--email", "x@example.org", "--password-stdin"], "short\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("password"));
}

#[tokio::test]
async fn an_admin_grants_and_revokes_roles() {
    let app = spawn_app().await;
    let admin = app.new_user_with_role("admin").await;
    let user = app.new_user().await;
    let path = format!("/v1/admin/users/{}/roles", user.id);
    let response =
        app.authed(Method::POST, &path, &admin).json(&json!({ "role": "operator" })).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["role"], "operator");
    // The role takes effect on the user's existing token.
    let me: Value = app.authed(Method::GET, "/v1/me", &user).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["role"], "operator");

    let response = app.authed(Method::DELETE, &format!("{path}/operator"), &admin).send().await.unwrap();
    assert_eq!(response.json::<Value>().await.unwrap()["role"], "user");
}

#[tokio::test]
async fn only_admins_manage_roles() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let user = app.new_user().await;
    let path = format!("/v1/admin/users/{}/roles", user.id);
    for caller in [&operator, &user] {
        let response =
            app.authed(Method::POST, &path, caller).json(&json!({ "role": "admin" })).send().await.unwrap();
        problem(response, 403).await;
        let response = app.authed(Method::DELETE, &format!("{path}/user"), caller).send().await.unwrap();
        problem(response, 403).await;
    }
    problem(app.post_json(&path, &json!({ "role": "admin" })).await, 401).await;
    let me: Value = app.authed(Method::GET, "/v1/me", &user).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["role"], "user");
}

#[tokio::test]
async fn granting_to_an_unknown_user_or_an_unknown_role_fails_clearly() {
    let app = spawn_app().await;
    let admin = app.new_user_with_role("admin").await;
    let response = app
        .authed(Method::POST, "/v1/admin/users/nobody/roles", &admin)
        .json(&json!({ "role": "operator" }))
        .send()
        .await
        .unwrap();
    problem(response, 404).await;
    let path = format!("/v1/admin/users/{}/roles", admin.id);
    let response =
        app.authed(Method::POST, &path, &admin).json(&json!({ "role": "king" })).send().await.unwrap();
    problem(response, 400).await;
}

#[tokio::test]
async fn an_admin_cannot_lower_their_own_role() {
    let app = spawn_app().await;
    let admin = app.new_user_with_role("admin").await;
    let path = format!("/v1/admin/users/{}/roles", admin.id);

    let granted =
        app.authed(Method::POST, &path, &admin).json(&json!({ "role": "user" })).send().await.unwrap();
    problem(granted, 409).await;
    for role in ["admin", "operator"] {
        let revoked = app.authed(Method::DELETE, &format!("{path}/{role}"), &admin).send().await.unwrap();
        problem(revoked, 409).await;
    }

    let me: Value = app.authed(Method::GET, "/v1/me", &admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["role"], "admin");
}
