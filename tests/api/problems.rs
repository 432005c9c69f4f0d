//! Requests that no handler can serve get problem documents with the right 4xx.

use crate::helpers::{error_fields, problem, spawn_app};

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = spawn_app().await;
    problem(app.get("/v1/nothing-here").await, 404).await;
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem_with_allow() {
    let app = spawn_app().await;
    let response = app.client.delete(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.headers()["allow"], "GET");
    problem(response, 405).await;
}

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/v1/auth/register"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    problem(response, 400).await;
}

#[tokio::test]
async fn a_wrong_type_is_a_400_naming_the_field() {
    let app = spawn_app().await;
    let body = serde_json::json!({ "email": 12, "password": "long enough pw", "display_name": "A" });
    let problem = problem(app.post_json("/v1/auth/register", &body).await, 400).await;
    assert_eq!(error_fields(&problem), ["email"]);
}

#[tokio::test]
async fn a_missing_field_is_a_400_naming_it() {
    let app = spawn_app().await;
    let body = serde_json::json!({ "email": "a@example.org", "display_name": "A" });
    let problem = problem(app.post_json("/v1/auth/register", &body).await, 400).await;
    assert_eq!(error_fields(&problem), ["password"]);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415_problem() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/v1/auth/register"))
        .header("content-type", "text/plain")
        .body("email=a@example.org")
        .send()
        .await
        .unwrap();
    problem(response, 415).await;
}

#[tokio::test]
async fn an_oversized_body_is_a_413_problem() {
    let app = spawn_app().await;
    let huge = "x".repeat(app.config.max_body_bytes + 1);
    let body = serde_json::json!({ "email": "a@example.org", "password": huge, "display_name": "A" });
    problem(app.post_json("/v1/auth/register", &body).await, 413).await;
}

#[tokio::test]
async fn invalid_utf8_is_a_400_problem() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/v1/auth/register"))
        .header("content-type", "application/json")
        .body(b"{\"email\": \"\xff\xfe\"}".to_vec())
        .send()
        .await
        .unwrap();
    problem(response, 400).await;
}

#[tokio::test]
async fn an_array_where_an_object_belongs_is_a_400_and_registers_nobody() {
    let app = spawn_app().await;
    let fields = serde_json::json!(["a@example.org", "long enough pw", "Ada"]);

    problem(app.post_json("/v1/auth/register", &fields).await, 400).await;

    let login = serde_json::json!({ "email": "a@example.org", "password": "long enough pw" });
    problem(app.post_json("/v1/auth/login", &login).await, 401).await;
}
