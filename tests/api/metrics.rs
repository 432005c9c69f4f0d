//! `GET /metrics`: Prometheus text, behind a token or on a private listener.

use reqwest::Method;

use crate::helpers::{Options, paris_circle, problem, spawn_app, spawn_app_with};

const TOKEN: &str = "scrape-token-0123456789";

#[tokio::test]
async fn metrics_need_the_token_and_count_requests_notifications_and_fanout() {
    let app = spawn_app_with(Options {
        env: vec![("SAFECHECK_METRICS_TOKEN", TOKEN.into())],
        ..Default::default()
    })
    .await;
    let operator = app.new_user_with_role("operator").await;
    app.user_at(48.8630, 2.3708).await;
    let incident = app.activate(&operator, &paris_circle("Fire")).await;
    app.get("/healthz").await;

    let anonymous = app.get("/metrics").await;
    problem(anonymous, 401).await;
    let wrong = app.client.get(app.url("/metrics")).bearer_auth("not-the-token-at-all").send().await.unwrap();
    problem(wrong, 401).await;
    let response = app.client.get(app.url("/metrics")).bearer_auth(TOKEN).send().await.unwrap();

    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = response.text().await.unwrap();
    let has = |needle: &str| text.lines().any(|line| line.starts_with(needle));
    assert!(has(r#"safecheck_http_requests_total{method="GET",route="/healthz",status="200"} 1"#), "{text}");
    assert!(has(r#"safecheck_http_requests_total{method="POST",route="/v1/incidents",status="201"}"#));
    assert!(has(
        r#"safecheck_http_request_duration_seconds_bucket{method="GET",route="/healthz",le="+Inf"} 1"#
    ));
    let id = incident["id"].as_str().unwrap();
    assert!(has(&format!(r#"safecheck_fanout_prompts{{exercise="false",incident_id="{id}"}} 1"#)), "{text}");
    assert!(has(&format!(r#"safecheck_fanout_complete{{exercise="false",incident_id="{id}"}} 1"#)));
    assert!(
        has(r#"safecheck_notifications{state="sent"}"#)
            && has(r#"safecheck_notifications{state="failed"} 0"#)
    );
    assert!(has("safecheck_notifications_oldest_due_age_seconds "));
    assert!(!text.contains(&operator.access_token), "no secrets");
}

#[tokio::test]
async fn without_a_token_metrics_are_off_on_the_api_and_served_on_the_private_listener() {
    let plain = spawn_app().await;
    // Off, but still the route the contract guards with a token: 401, as when one is configured.
    let anonymous = plain.get("/metrics").await;
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    problem(anonymous, 401).await;
    let guessed =
        plain.client.get(plain.url("/metrics")).bearer_auth("any-token-at-all-0123").send().await.unwrap();
    problem(guessed, 401).await;

    let app = spawn_app_with(Options {
        env: vec![("SAFECHECK_METRICS_LISTEN", "127.0.0.1:0".into())],
        ..Default::default()
    })
    .await;
    problem(app.get("/metrics").await, 401).await;
    let private = app.metrics_address.clone().expect("a metrics listener");
    let response = app.client.get(format!("{private}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("safecheck_notifications_oldest_due_age_seconds"));
    let other = app.client.request(Method::GET, format!("{private}/v1/me")).send().await.unwrap();
    assert_eq!(other.status(), 404, "the private listener serves metrics only");
}
