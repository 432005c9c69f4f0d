//! The caller's profile, location and erasure.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{error_fields, problem, spawn_app};

#[tokio::test]
async fn get_me_shows_the_profile() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let me: Value = app.authed(Method::GET, "/v1/me", &user).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["id"], user.id.as_str());
    assert_eq!(me["email"], user.email.as_str());
    assert!(me["location"].is_null());
}

#[tokio::test]
async fn patch_me_changes_name_and_locale() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let response = app
        .authed(Method::PATCH, "/v1/me", &user)
        .json(&json!({ "display_name": "Élise", "locale": "fr" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["display_name"], "Élise");
    assert_eq!(me["locale"], "fr");
    let response =
        app.authed(Method::PATCH, "/v1/me", &user).json(&json!({ "locale": "de" })).send().await.unwrap();
    assert_eq!(error_fields(&problem(response, 422).await), ["locale"]);
}

#[tokio::test]
async fn a_password_change_needs_the_current_one_and_ends_other_sessions() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let wrong = app
        .authed(Method::PATCH, "/v1/me", &user)
        .json(&json!({ "password": "a new password", "current_password": "nope nope" }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_fields(&problem(wrong, 422).await), ["current_password"]);
    let ok = app
        .authed(Method::PATCH, "/v1/me", &user)
        .json(&json!({ "password": "a new password", "current_password": user.password }))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(app.login(&user.email, "a new password").await.status(), 200);
    problem(app.login(&user.email, &user.password).await, 401).await;
    let refreshed = app.post_json("/v1/auth/refresh", &json!({ "refresh_token": user.refresh_token })).await;
    problem(refreshed, 401).await;
}

async fn put_location(
    app: &crate::helpers::TestApp,
    user: &crate::helpers::TestUser,
    body: Value,
) -> reqwest::Response {
    app.authed(Method::PUT, "/v1/me/location", user).json(&body).send().await.unwrap()
}

#[tokio::test]
async fn a_location_is_stored_and_shown() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let response =
        put_location(&app, &user, json!({ "lat": 48.863, "lon": 2.3708, "accuracy_m": 12.5 })).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["updated"], true);
    assert_eq!(body["prompts"], json!([]));
    let me: Value = app.authed(Method::GET, "/v1/me", &user).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["location"]["lat"], 48.863);
    assert_eq!(me["location"]["accuracy_m"], 12.5);
}

#[tokio::test]
async fn an_older_fix_is_ignored_not_refused() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    put_location(&app, &user, json!({ "lat": 10.0, "lon": 10.0, "recorded_at": "2026-01-02T10:00:00Z" }))
        .await;
    let response =
        put_location(&app, &user, json!({ "lat": 20.0, "lon": 20.0, "recorded_at": "2026-01-02T09:00:00Z" }))
            .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["updated"], false);
    assert_eq!(body["location"]["lat"], 10.0);
}

#[tokio::test]
async fn invalid_coordinates_are_named() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let response = put_location(&app, &user, json!({ "lat": 90.5, "lon": -181, "accuracy_m": -1 })).await;
    assert_eq!(error_fields(&problem(response, 422).await), ["lat", "lon", "accuracy_m"]);
    let response = put_location(&app, &user, json!({ "lat": "north", "lon": 2.0 })).await;
    assert_eq!(error_fields(&problem(response, 400).await), ["lat"]);
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let response = put_location(&app, &user, json!({ "lat": 1.0, "lon": 2.0, "recorded_at": future })).await;
    assert_eq!(error_fields(&problem(response, 422).await), ["recorded_at"]);
    let me: Value = app.authed(Method::GET, "/v1/me", &user).send().await.unwrap().json().await.unwrap();
    assert!(me["location"].is_null(), "a refused fix changed nothing");
}

#[tokio::test]
async fn delete_me_erases_the_account_and_its_data() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let user = app.new_user().await;
    put_location(&app, &user, json!({ "lat": 48.8630, "lon": 2.3708 })).await;
    let incident = app.activate(&operator, &crate::helpers::paris_circle("Fire")).await;
    let incident_id = incident["id"].as_str().unwrap().to_owned();
    app.wait_for_fanout(&operator, &incident_id).await;
    assert_eq!(app.prompts(&user).await.len(), 1, "prompted before erasing the account");
    app.authed(Method::POST, "/v1/me/contacts", &user)
        .json(&json!({ "name": "Mum", "email": "mum@example.org" }))
        .send()
        .await
        .unwrap();
    let erase = |password: &str| {
        app.authed(Method::DELETE, "/v1/me", &user).json(&json!({ "current_password": password })).send()
    };
    let refused = problem(erase("not my password").await.unwrap(), 422).await;
    assert_eq!(error_fields(&refused), ["current_password"]);
    assert_eq!(erase(&user.password).await.unwrap().status(), 204);

    let mut conn = safecheck::db::pool_connect(app.database_url()).unwrap();
    assert!(safecheck::db::users::find(&mut conn, &user.id).unwrap().is_none());
    assert!(safecheck::db::locations::find(&mut conn, &user.id).unwrap().is_none());
    assert!(safecheck::db::contacts::list(&mut conn, &user.id).unwrap().is_empty());
    // Prompts have no foreign key to users on PostgreSQL (migration 000016): erased explicitly.
    assert!(safecheck::db::prompts::find(&mut conn, &incident_id, &user.id).unwrap().is_none());
    assert_eq!(safecheck::db::prompts::count(&mut conn, &incident_id).unwrap(), 0);
    // The email is free again.
    assert_eq!(app.register(&user.email, "another good password", "Again").await.status(), 201);
}
