//! Liveness and readiness. Readiness following PostgreSQL down and back up is in
//! `postgres_only::database_cut`.

use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_answers_200() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_answers_200_when_the_database_is_reachable() {
    let app = spawn_app().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
}
