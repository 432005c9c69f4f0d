//! Access token validation: only our HS256 tokens, unexpired, for our issuer and audience.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{Options, TEST_JWT_SECRET, TestApp, problem, spawn_app, spawn_app_with};

fn claims(sub: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "sub": sub, "role": "user", "iat": now, "exp": now + 600,
        "iss": "https://safecheck.test", "aud": "safecheck-api", "jti": "t1",
    })
}

fn sign(claims: &Value, secret: &str, kid: &str) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret.as_bytes()).unwrap()).unwrap()
}

/// The server's id for a key: the first 8 bytes of its SHA-256, in hex.
fn kid_of(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(secret.as_bytes())[..8])
}

async fn me_with(app: &TestApp, token: &str) -> reqwest::Response {
    app.client.get(app.url("/v1/me")).bearer_auth(token).send().await.unwrap()
}

async fn assert_rejected(app: &TestApp, token: &str) {
    let response = me_with(app, token).await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    problem(response, 401).await;
}

#[tokio::test]
async fn a_token_we_signed_is_accepted() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    assert_eq!(
        me_with(&app, &sign(&claims(&user.id), TEST_JWT_SECRET, &kid_of(TEST_JWT_SECRET))).await.status(),
        200
    );
}

#[tokio::test]
async fn an_access_token_expires_when_the_servers_clock_passes_its_lifetime() {
    let app = spawn_app_with(Options {
        env: vec![("SAFECHECK_ACCESS_TOKEN_TTL_SECS", "900".into())],
        ..Default::default()
    })
    .await;
    let user = app.new_user().await;
    assert_eq!(me_with(&app, &user.access_token).await.status(), 200);

    app.clock.advance(chrono::Duration::seconds(900 + 6));

    assert_rejected(&app, &user.access_token).await;
}

#[tokio::test]
async fn a_missing_or_malformed_authorization_is_a_401() {
    let app = spawn_app().await;
    let response = app.get("/v1/me").await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    problem(response, 401).await;
    let response =
        app.client.get(app.url("/v1/me")).header("authorization", "Basic YTpi").send().await.unwrap();
    problem(response, 401).await;
    assert_rejected(&app, "not.a.jwt").await;
}

#[tokio::test]
async fn a_changed_payload_is_a_401() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let other = app.new_user().await;
    let parts: Vec<&str> = user.access_token.split('.').collect();
    let mut payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    payload["sub"] = json!(other.id);
    payload["role"] = json!("admin");
    let forged = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(payload.to_string()), parts[2]);
    assert_rejected(&app, &forged).await;
}

#[tokio::test]
async fn alg_none_is_a_401() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let header = json!({ "alg": "none", "typ": "JWT", "kid": kid_of(TEST_JWT_SECRET) });
    let header = URL_SAFE_NO_PAD.encode(header.to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims(&user.id).to_string());
    assert_rejected(&app, &format!("{header}.{payload}.")).await;
}

#[tokio::test]
async fn the_wrong_key_is_a_401() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    assert_rejected(
        &app,
        &sign(&claims(&user.id), "another-secret-another-secret-another-secret", &kid_of(TEST_JWT_SECRET)),
    )
    .await;
}

#[tokio::test]
async fn an_expired_token_is_a_401() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut expired = claims(&user.id);
    let past = chrono::Utc::now().timestamp() - 3600;
    expired["iat"] = json!(past - 900);
    expired["exp"] = json!(past);
    assert_rejected(&app, &sign(&expired, TEST_JWT_SECRET, &kid_of(TEST_JWT_SECRET))).await;
}

#[tokio::test]
async fn the_wrong_audience_or_issuer_is_a_401() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut wrong_aud = claims(&user.id);
    wrong_aud["aud"] = json!("another-api");
    assert_rejected(&app, &sign(&wrong_aud, TEST_JWT_SECRET, &kid_of(TEST_JWT_SECRET))).await;
    let mut wrong_iss = claims(&user.id);
    wrong_iss["iss"] = json!("https://evil.test");
    assert_rejected(&app, &sign(&wrong_iss, TEST_JWT_SECRET, &kid_of(TEST_JWT_SECRET))).await;
    let mut no_exp = claims(&user.id);
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_rejected(&app, &sign(&no_exp, TEST_JWT_SECRET, &kid_of(TEST_JWT_SECRET))).await;
}

#[tokio::test]
async fn a_token_the_server_signed_before_a_rotation_works_with_its_key_as_the_previous_one() {
    let app = spawn_app().await;
    // The token comes from the server, signed with the key that is current now.
    let user = app.new_user().await;
    let new_secret = "the-next-secret-the-next-secret-the-next-0002";
    // A restart over the same database: a new key signs, the old one is the previous.
    let rotated = app
        .spawn_sibling(&[
            ("SAFECHECK_JWT_SECRET", new_secret),
            ("SAFECHECK_JWT_PREVIOUS_SECRET", TEST_JWT_SECRET),
        ])
        .await;
    let me = |base: &str, token: &str| {
        app.client.get(format!("{base}/v1/me")).bearer_auth(token.to_owned()).send()
    };
    assert_eq!(me(&rotated, &user.access_token).await.unwrap().status(), 200);
    // Tokens the rotated server signs work there, and not where the new key is unknown.
    let fresh: Value = app
        .client
        .post(format!("{rotated}/v1/auth/login"))
        .json(&json!({ "email": user.email, "password": user.password }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fresh = fresh["access_token"].as_str().unwrap();
    assert_eq!(me(&rotated, fresh).await.unwrap().status(), 200);
    assert_rejected(&app, fresh).await;
    // Once the previous key is dropped, the old token is refused.
    let dropped = app.spawn_sibling(&[("SAFECHECK_JWT_SECRET", new_secret)]).await;
    problem(me(&dropped, &user.access_token).await.unwrap(), 401).await;
}

#[tokio::test]
async fn a_deleted_accounts_token_is_a_401_at_once() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let response = app
        .authed(reqwest::Method::DELETE, "/v1/me", &user)
        .json(&json!({ "current_password": user.password }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_rejected(&app, &user.access_token).await;
    problem(app.login(&user.email, &user.password).await, 401).await;
}
