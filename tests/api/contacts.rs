//! Contacts: add, list, delete, with their limits.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, error_fields, problem, spawn_app};

async fn add(app: &TestApp, user: &TestUser, body: Value) -> reqwest::Response {
    app.authed(Method::POST, "/v1/me/contacts", user).json(&body).send().await.unwrap()
}

async fn list(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let body: Value =
        app.authed(Method::GET, "/v1/me/contacts", user).send().await.unwrap().json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn contacts_are_added_listed_and_deleted() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let response =
        add(&app, &user, json!({ "name": "Mum", "email": "Mum@Example.org", "locale": "fr" })).await;
    assert_eq!(response.status(), 201);
    let contact: Value = response.json().await.unwrap();
    assert_eq!(contact["email"], "mum@example.org");
    assert_eq!(contact["locale"], "fr");
    assert_eq!(list(&app, &user).await.len(), 1);

    let path = format!("/v1/me/contacts/{}", contact["id"].as_str().unwrap());
    assert_eq!(app.authed(Method::DELETE, &path, &user).send().await.unwrap().status(), 204);
    assert!(list(&app, &user).await.is_empty());
    problem(app.authed(Method::DELETE, &path, &user).send().await.unwrap(), 404).await;
}

#[tokio::test]
async fn a_contact_without_locale_gets_the_users() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    app.authed(Method::PATCH, "/v1/me", &user).json(&json!({ "locale": "fr" })).send().await.unwrap();
    let contact: Value =
        add(&app, &user, json!({ "name": "Papa", "email": "papa@example.org" })).await.json().await.unwrap();
    assert_eq!(contact["locale"], "fr");
}

#[tokio::test]
async fn invalid_contact_fields_are_named() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let response =
        add(&app, &user, json!({ "name": "x".repeat(101), "email": "nope", "locale": "es" })).await;
    assert_eq!(error_fields(&problem(response, 422).await), ["name", "email", "locale"]);
    assert!(list(&app, &user).await.is_empty());
}

#[tokio::test]
async fn a_duplicate_contact_email_is_a_409() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    assert_eq!(add(&app, &user, json!({ "name": "Mum", "email": "mum@example.org" })).await.status(), 201);
    let response = add(&app, &user, json!({ "name": "Mother", "email": "MUM@example.org" })).await;
    assert_eq!(error_fields(&problem(response, 409).await), ["email"]);
    // Another spelling of the same mailbox is the same contact.
    let response = add(&app, &user, json!({ "name": "Mother", "email": "mum+home@example.org" })).await;
    assert_eq!(error_fields(&problem(response, 409).await), ["email"]);
    // Another user may list the same person.
    let other = app.new_user().await;
    assert_eq!(add(&app, &other, json!({ "name": "Mum", "email": "mum@example.org" })).await.status(), 201);
}

#[tokio::test]
async fn the_twenty_first_contact_is_a_422() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    for i in 0..20 {
        let response =
            add(&app, &user, json!({ "name": format!("C{i}"), "email": format!("c{i}@example.org") })).await;
        assert_eq!(response.status(), 201);
    }
    let response = add(&app, &user, json!({ "name": "One too many", "email": "c20@example.org" })).await;
    assert_eq!(error_fields(&problem(response, 422).await), ["contacts"]);
    assert_eq!(list(&app, &user).await.len(), 20);
}

#[tokio::test]
async fn nobody_deletes_or_sees_another_users_contacts() {
    let app = spawn_app().await;
    let owner = app.new_user().await;
    let other = app.new_user().await;
    let contact: Value =
        add(&app, &owner, json!({ "name": "Mum", "email": "mum@example.org" })).await.json().await.unwrap();
    let path = format!("/v1/me/contacts/{}", contact["id"].as_str().unwrap());
    problem(app.authed(Method::DELETE, &path, &other).send().await.unwrap(), 404).await;
    assert!(list(&app, &other).await.is_empty());
    assert_eq!(list(&app, &owner).await.len(), 1);
}
