//! Liveness and readiness, including readiness following the database down and back up.

use std::time::Duration;

use crate::helpers::{Options, problem, spawn_app, spawn_app_with};

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

/// PostgreSQL only: SQLite is a file, it cannot go away over the network.
#[tokio::test]
async fn readyz_goes_503_when_postgres_is_cut_and_200_when_it_is_back() {
    let app = spawn_app_with(Options { db_proxy: true, ..Default::default() }).await;
    let Some(proxy) = app.proxy.as_ref() else {
        eprintln!("skipped: needs TEST_DATABASE_URL (PostgreSQL)");
        return;
    };
    assert_eq!(app.get("/readyz").await.status(), 200);

    proxy.cut();
    let response = app.get("/readyz").await;
    assert!(response.headers().contains_key("retry-after"));
    problem(response, 503).await;

    proxy.restore();
    let mut status = 0;
    for _ in 0..50 {
        status = app.get("/readyz").await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "the server did not recover once the database was back");
}
