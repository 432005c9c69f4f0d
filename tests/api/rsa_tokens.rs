//! The exception for RUSTSEC-2023-0071 in deny.toml (rsa's timing leak in private-key
//! operations) rests on safecheck never using an RSA key: it signs HS256 and accepts HS256 alone.
//! A token carrying the server's own claims, but signed with RSA, is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::helpers::{problem, spawn_app};

/// A throwaway 2048-bit key made for this test with `openssl genpkey` (PKCS#1 DER); it protects nothing.
const TEST_RSA_KEY: &[u8] = include_bytes!("support/rsa_test_key.der");

#[tokio::test]
async fn a_token_signed_with_rsa_is_a_401() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    // The server's own token, its header and claims re-signed with RS256.
    let parts: Vec<&str> = user.access_token.split('.').collect();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let mut rs256 = Header::new(Algorithm::RS256);
    rs256.kid = header["kid"].as_str().map(str::to_owned);
    let key = EncodingKey::from_rsa_der(TEST_RSA_KEY);
    let forged = jsonwebtoken::encode(&rs256, &claims, &key).unwrap();

    let response = app.client.get(app.url("/v1/me")).bearer_auth(&forged).send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    problem(response, 401).await;
    // The server's own HS256 token is accepted, so the refusal is the algorithm's.
    let response = app.client.get(app.url("/v1/me")).bearer_auth(&user.access_token).send().await.unwrap();
    assert_eq!(response.status(), 200);
}
