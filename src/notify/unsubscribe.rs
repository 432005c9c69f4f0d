//! Unsubscribe tokens: the address, and an HMAC of it under the server's key. Unguessable
//! without the key, checkable without storage, valid for as long as the key is configured
//! (the previous key during a rotation too).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;

use crate::config::JwtKey;

type HmacSha256 = Hmac<Sha256>;

/// Makes and checks tokens with the server's keys (the first signs).
#[derive(Clone)]
pub struct UnsubscribeKeys {
    keys: Vec<Vec<u8>>,
}

impl UnsubscribeKeys {
    pub fn new(keys: &[JwtKey]) -> Self {
        Self { keys: keys.iter().map(|k| k.secret.expose_secret().as_bytes().to_vec()).collect() }
    }

    /// The token for `email`.
    pub fn token(&self, email: &str) -> String {
        let key = self.keys.first().map(Vec::as_slice).unwrap_or_default();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(email), URL_SAFE_NO_PAD.encode(mac(key, email)))
    }

    /// The address a valid token names.
    pub fn verify(&self, token: &str) -> Option<String> {
        let (address, signature) = token.split_once('.')?;
        let email = String::from_utf8(URL_SAFE_NO_PAD.decode(address).ok()?).ok()?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        self.keys.iter().any(|key| verify(key, &email, &signature)).then_some(email)
    }
}

#[expect(clippy::expect_used, reason = "HMAC takes keys of any length; new_from_slice cannot fail")]
fn keyed(key: &[u8], email: &str) -> HmacSha256 {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(b"safecheck-unsubscribe\0");
    mac.update(email.as_bytes());
    mac
}

fn mac(key: &[u8], email: &str) -> Vec<u8> {
    keyed(key, email).finalize().into_bytes().to_vec()
}

fn verify(key: &[u8], email: &str, signature: &[u8]) -> bool {
    // Constant-time comparison.
    keyed(key, email).verify_slice(signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secrets: &[&str]) -> UnsubscribeKeys {
        let keys: Vec<JwtKey> = secrets
            .iter()
            .enumerate()
            .map(|(i, s)| JwtKey { kid: format!("k{i}"), secret: (*s).to_owned().into() })
            .collect();
        UnsubscribeKeys::new(&keys)
    }

    #[test]
    fn a_token_names_its_address_and_cannot_be_forged() {
        let k = keys(&["first-secret-first-secret-first-secret"]);
        let token = k.token("mum@example.org");
        assert_eq!(k.verify(&token).as_deref(), Some("mum@example.org"));
        let (_, signature) = token.split_once('.').unwrap();
        let forged = format!("{}.{signature}", URL_SAFE_NO_PAD.encode("dad@example.org"));
        assert_eq!(k.verify(&forged), None);
        assert_eq!(k.verify("garbage"), None);
        assert_eq!(keys(&["another-secret-another-secret-another"]).verify(&token), None);
    }

    #[test]
    fn the_previous_key_still_verifies() {
        let old = keys(&["old-secret-old-secret-old-secret-0001"]);
        let rotated =
            keys(&["new-secret-new-secret-new-secret-0002", "old-secret-old-secret-old-secret-0001"]);
        assert!(rotated.verify(&old.token("a@example.org")).is_some());
    }
}
