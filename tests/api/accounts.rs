//! Register, log in, refresh, log out, throttling.

use serde_json::{Value, json};

use crate::helpers::{Options, error_fields, problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn register_creates_a_user_with_a_normalised_email() {
    let app = spawn_app().await;
    let response = app.register("  Ada@Example.ORG ", "correct horse battery", "Ada").await;
    assert_eq!(response.status(), 201);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["email"], "ada@example.org");
    assert_eq!(user["display_name"], "Ada");
    assert_eq!(user["role"], "user");
    assert_eq!(user["locale"], "en");
    assert!(user.get("password_hash").is_none() && user.get("password").is_none());
}

#[tokio::test]
async fn a_duplicate_email_is_a_409_naming_email() {
    let app = spawn_app().await;
    assert_eq!(app.register("ada@example.org", "correct horse battery", "Ada").await.status(), 201);
    let problem = problem(app.register("ADA@example.org", "another password", "Other").await, 409).await;
    assert_eq!(error_fields(&problem), ["email"]);
}

#[tokio::test]
async fn invalid_registration_fields_are_a_422_naming_each() {
    let app = spawn_app().await;
    let body = json!({ "email": "not-an-email", "password": "short", "display_name": " ", "locale": "de" });
    let problem = problem(app.post_json("/v1/auth/register", &body).await, 422).await;
    assert_eq!(error_fields(&problem), ["email", "password", "display_name", "locale"]);
    let too_long = json!({ "email": "a@example.org", "password": "x".repeat(129), "display_name": "A" });
    let problem = crate::helpers::problem(app.post_json("/v1/auth/register", &too_long).await, 422).await;
    assert_eq!(error_fields(&problem), ["password"]);
}

#[tokio::test]
async fn login_returns_a_bearer_pair() {
    let ttl = ("SAFECHECK_ACCESS_TOKEN_TTL_SECS", "900".to_owned());
    let app = spawn_app_with(Options { env: vec![ttl], ..Default::default() }).await;
    app.register("ada@example.org", "correct horse battery", "Ada").await;
    let response = app.login("ADA@example.org", "correct horse battery").await;
    assert_eq!(response.status(), 200);
    let pair: Value = response.json().await.unwrap();
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    assert!(pair["access_token"].as_str().unwrap().split('.').count() == 3);
    assert!(pair["refresh_token"].as_str().unwrap().len() >= 43);
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_401() {
    let app = spawn_app().await;
    app.register("ada@example.org", "correct horse battery", "Ada").await;
    let wrong = problem(app.login("ada@example.org", "wrong password!").await, 401).await;
    let unknown = problem(app.login("nobody@example.org", "wrong password!").await, 401).await;
    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn too_many_failures_for_an_account_from_one_address_get_429_with_retry_after() {
    let app = spawn_app_with(Options {
        env: vec![("SAFECHECK_LOGIN_FREE_FAILURES", "3".into())],
        ..Default::default()
    })
    .await;
    app.register("ada@example.org", "correct horse battery", "Ada").await;
    for _ in 0..3 {
        problem(app.login("ada@example.org", "wrong password!").await, 401).await;
    }
    let response = app.login("ada@example.org", "correct horse battery").await;
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after > 0 && retry_after <= 900);
    let refused = problem(response, 429).await;
    assert_eq!(refused["limit"], "login_failures_per_account_and_address");
}

#[tokio::test]
async fn too_many_failures_from_one_address_get_429() {
    let app = spawn_app_with(Options {
        env: vec![("SAFECHECK_LOGIN_MAX_FAILURES_PER_IP", "4".into())],
        ..Default::default()
    })
    .await;
    for i in 0..4 {
        problem(app.login(&format!("user{i}@example.org"), "wrong password!").await, 401).await;
    }
    let refused = problem(app.login("someone-else@example.org", "wrong password!").await, 429).await;
    assert_eq!(refused["limit"], "login_attempts_per_address");
}

#[tokio::test]
async fn a_successful_login_resets_the_account_count() {
    let app = spawn_app_with(Options {
        env: vec![("SAFECHECK_LOGIN_FREE_FAILURES", "3".into())],
        ..Default::default()
    })
    .await;
    app.register("ada@example.org", "correct horse battery", "Ada").await;
    for _ in 0..2 {
        problem(app.login("ada@example.org", "wrong password!").await, 401).await;
    }
    assert_eq!(app.login("ada@example.org", "correct horse battery").await.status(), 200);
    for _ in 0..2 {
        problem(app.login("ada@example.org", "wrong password!").await, 401).await;
    }
    assert_eq!(app.login("ada@example.org", "correct horse battery").await.status(), 200);
}

async fn refresh(app: &crate::helpers::TestApp, token: &str) -> reqwest::Response {
    app.post_json("/v1/auth/refresh", &json!({ "refresh_token": token })).await
}

#[tokio::test]
async fn refresh_rotates_and_the_old_token_stops_working() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let response = refresh(&app, &user.refresh_token).await;
    assert_eq!(response.status(), 200);
    let pair: Value = response.json().await.unwrap();
    assert_ne!(pair["refresh_token"], user.refresh_token.as_str());
    let me = app
        .client
        .get(app.url("/v1/me"))
        .bearer_auth(pair["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    problem(refresh(&app, &user.refresh_token).await, 401).await;
}

#[tokio::test]
async fn reusing_a_refresh_token_revokes_its_family() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let rotated: Value = refresh(&app, &user.refresh_token).await.json().await.unwrap();
    let successor = rotated["refresh_token"].as_str().unwrap().to_owned();
    // The thief replays the first token: refused, and the family is revoked...
    problem(refresh(&app, &user.refresh_token).await, 401).await;
    // ...so the legitimate successor is refused too.
    problem(refresh(&app, &successor).await, 401).await;
    // Another login is a new family and works.
    let other: Value = app.login(&user.email, &user.password).await.json().await.unwrap();
    assert_eq!(refresh(&app, other["refresh_token"].as_str().unwrap()).await.status(), 200);
}

#[tokio::test]
async fn an_unknown_refresh_token_is_a_401() {
    let app = spawn_app().await;
    problem(refresh(&app, "not-a-token").await, 401).await;
}

#[tokio::test]
async fn logout_revokes_the_refresh_token() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let response = app
        .authed(reqwest::Method::POST, "/v1/auth/logout", &user)
        .json(&json!({ "refresh_token": user.refresh_token }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    problem(refresh(&app, &user.refresh_token).await, 401).await;
}

#[tokio::test]
async fn logout_needs_an_access_token() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let response = app.post_json("/v1/auth/logout", &json!({ "refresh_token": user.refresh_token })).await;
    problem(response, 401).await;
}
