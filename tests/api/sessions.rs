//! Sessions that end: a password change or "log out everywhere" refuses the access tokens
//! issued before it, and a login's refresh session ends after its absolute lifetime.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, TestUser, problem, spawn_app, spawn_app_with};

async fn me_status(app: &TestApp, token: &str) -> u16 {
    app.client.get(app.url("/v1/me")).bearer_auth(token).send().await.unwrap().status().as_u16()
}

async fn login_pair(app: &TestApp, user: &TestUser) -> Value {
    let response = app.login(&user.email, &user.password).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_json("/v1/auth/refresh", &json!({ "refresh_token": token })).await
}

#[tokio::test]
async fn a_password_change_refuses_the_access_tokens_issued_before_it() {
    let app = spawn_app().await;
    let mut user = app.new_user().await;
    let other_device = login_pair(&app, &user).await;
    app.clock.advance(chrono::Duration::seconds(2));

    let changed = app
        .authed(Method::PATCH, "/v1/me", &user)
        .json(&json!({ "password": "a brand new password", "current_password": user.password }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);

    assert_eq!(me_status(&app, &user.access_token).await, 401);
    assert_eq!(me_status(&app, other_device["access_token"].as_str().unwrap()).await, 401);
    problem(refresh(&app, other_device["refresh_token"].as_str().unwrap()).await, 401).await;
    // A login in the same second as the change works.
    user.password = "a brand new password".into();
    let fresh = login_pair(&app, &user).await;
    assert_eq!(me_status(&app, fresh["access_token"].as_str().unwrap()).await, 200);
}

#[tokio::test]
async fn logging_out_everywhere_ends_every_session_and_a_new_login_works_at_once() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let laptop = login_pair(&app, &user).await;
    app.clock.advance(chrono::Duration::seconds(2));

    let response = app.authed(Method::POST, "/v1/auth/logout-all", &user).send().await.unwrap();
    assert_eq!(response.status(), 204);

    for token in [user.access_token.as_str(), laptop["access_token"].as_str().unwrap()] {
        let response = app.client.get(app.url("/v1/me")).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        problem(response, 401).await;
    }
    for token in [user.refresh_token.as_str(), laptop["refresh_token"].as_str().unwrap()] {
        problem(refresh(&app, token).await, 401).await;
    }
    let fresh = login_pair(&app, &user).await;
    assert_eq!(me_status(&app, fresh["access_token"].as_str().unwrap()).await, 200);
    let renewed = refresh(&app, fresh["refresh_token"].as_str().unwrap()).await;
    assert_eq!(renewed.status(), 200);
    // Again: idempotent.
    let token = renewed.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let again = app.client.post(app.url("/v1/auth/logout-all")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(again.status(), 204);
}

#[tokio::test]
async fn a_token_issued_in_the_same_second_just_before_logging_out_everywhere_is_refused() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    // No clock move: the token and the logout are most likely in the same second.
    let response = app.authed(Method::POST, "/v1/auth/logout-all", &user).send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(me_status(&app, &user.access_token).await, 401);
    let fresh = login_pair(&app, &user).await;
    assert_eq!(me_status(&app, fresh["access_token"].as_str().unwrap()).await, 200);
}

#[tokio::test]
async fn logging_out_everywhere_needs_an_access_token() {
    let app = spawn_app().await;
    problem(app.post_json("/v1/auth/logout-all", &json!({})).await, 401).await;
}

#[tokio::test]
async fn a_refresh_session_ends_after_its_absolute_lifetime_however_often_renewed() {
    let app = spawn_app_with(Options {
        env: vec![
            ("SAFECHECK_REFRESH_TOKEN_TTL_SECS", "1000".into()),
            ("SAFECHECK_REFRESH_SESSION_MAX_SECS", "2500".into()),
        ],
        ..Default::default()
    })
    .await;
    let user = app.new_user().await;
    let pair = login_pair(&app, &user).await;
    assert_eq!(pair["refresh_expires_in"], 1000);
    let mut token = pair["refresh_token"].as_str().unwrap().to_owned();

    for (advance, expires_in) in [(900, 1000), (900, 700)] {
        app.clock.advance(chrono::Duration::seconds(advance));
        let response = refresh(&app, &token).await;
        assert_eq!(response.status(), 200);
        let pair: Value = response.json().await.unwrap();
        let left = pair["refresh_expires_in"].as_i64().unwrap();
        assert!((expires_in - 1..=expires_in).contains(&left), "{left} seconds left, not {expires_in}");
        token = pair["refresh_token"].as_str().unwrap().to_owned();
    }
    // 2,600 s after the login: the session is over, though its last token is 800 s old.
    app.clock.advance(chrono::Duration::seconds(800));
    problem(refresh(&app, &token).await, 401).await;
    assert_eq!(app.login(&user.email, &user.password).await.status(), 200);
}
