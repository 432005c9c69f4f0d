//! No secret reaches the logs: passwords, access and refresh tokens, unsubscribe tokens and the
//! metrics token are absent from everything the server logged while a test used them.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, paris_circle, spawn_app_with};

/// Everything the process logs, from the first call on (one global subscriber per process).
fn captured() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            // What production logs (info), and everything of ours down to debug.
            .with_env_filter(tracing_subscriber::EnvFilter::new("info,safecheck=debug"))
            .with_writer(move || Capture(sink.clone()))
            .finish();
        // Another test may have installed one (TEST_LOG): then nothing is captured and the
        // test says so rather than passing on an empty log.
        let _ = tracing::subscriber::set_global_default(subscriber);
        logs
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_password_token_or_unsubscribe_link_is_ever_logged() {
    let logs = captured();
    let metrics_token = "metrics-token-that-must-not-leak-0001";
    let app = spawn_app_with(Options {
        env: vec![("SAFECHECK_METRICS_TOKEN", metrics_token.into())],
        ..Default::default()
    })
    .await;
    let operator = app.new_user_with_role("operator").await;
    let user = app.user_at(48.8630, 2.3708).await;
    let incident =
        app.activate(&operator, &paris_circle("Leak check")).await["id"].as_str().unwrap().to_owned();
    app.authed(Method::POST, "/v1/me/contacts", &user)
        .json(&json!({ "name": "Mum", "email": "mum@example.org" }))
        .send()
        .await
        .unwrap();
    let wrong_password = "the-wrong-password-123";
    app.login(&user.email, wrong_password).await;
    let refreshed: Value = app
        .post_json("/v1/auth/refresh", &json!({ "refresh_token": user.refresh_token }))
        .await
        .json()
        .await
        .unwrap();
    app.post_json("/v1/auth/refresh", &json!({ "refresh_token": user.refresh_token })).await; // reuse
    app.authed(Method::POST, &format!("/v1/incidents/{incident}/check-ins"), &user)
        .header("Idempotency-Key", "key-for-the-log-test")
        .json(&json!({ "status": "safe", "message": "at home" }))
        .send()
        .await
        .unwrap();
    let mail = app.smtp.wait_for(2, Duration::from_secs(10)).await;
    let link = mail
        .iter()
        .find_map(|m| m.header("list-unsubscribe"))
        .expect("an unsubscribe link")
        .trim_matches(['<', '>'])
        .to_owned();
    let token = link.rsplit('/').next().unwrap().to_owned();
    app.client.post(app.url(&format!("/v1/unsubscribe/{token}"))).send().await.unwrap();
    app.client.get(app.url("/metrics")).bearer_auth(metrics_token).send().await.unwrap();
    app.client.get(app.url("/v1/me")).bearer_auth("not.a.valid-jwt").send().await.unwrap();

    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(text.contains("/v1/auth/login"), "the log was captured (route patterns are logged)");
    let secrets = [
        ("a password", user.password.as_str()),
        ("a wrong password", wrong_password),
        ("an access token", user.access_token.as_str()),
        ("a refresh token", user.refresh_token.as_str()),
        ("a refreshed token", refreshed["refresh_token"].as_str().unwrap()),
        ("an unsubscribe token", token.as_str()),
        ("the metrics token", metrics_token),
        ("the JWT secret", crate::helpers::TEST_JWT_SECRET),
        ("the operator's token", operator.access_token.as_str()),
    ];
    for (what, secret) in secrets {
        assert!(!text.contains(secret), "{what} appears in the logs");
    }
}
