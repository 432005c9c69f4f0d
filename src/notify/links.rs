//! Signed links in emails: unsubscribe ("never email me") and accept an invitation. A token is
//! what it names, base64, and an HMAC of it under the link key: unguessable without the key,
//! checkable without storage, and without an expiry (a link keeps working for as long as the
//! key exists, which is for good).
//!
//! The key has a purpose of its own, made once and kept in the database (`db::link_keys`), so
//! every process (a separate `worker` too) signs and checks with the same one, and rotating the
//! JWT keys touches no link. Unsubscribe links sent before it existed were signed with the JWT
//! keys: those keys still verify unsubscribe tokens (never invitations) while they are
//! configured, and such links stop working once their JWT key is retired.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::NaiveDateTime;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::ExposeSecret;
use sha2::Sha256;

use crate::config::JwtKey;
use crate::db::{self, DbConn};
use crate::domain::SafetyStatus;

type HmacSha256 = Hmac<Sha256>;

/// The name of the link key's row.
const KEY_NAME: &str = "email-links";

/// What a token is for; each signs a different context, so one cannot pass for the other.
#[derive(Clone, Copy)]
enum Purpose {
    Unsubscribe,
    Accept,
    Answer,
}

impl Purpose {
    fn context(self) -> &'static [u8] {
        match self {
            Purpose::Unsubscribe => b"safecheck-unsubscribe\0",
            Purpose::Accept => b"safecheck-accept-invitation\0",
            Purpose::Answer => b"safecheck-answer\0",
        }
    }
}

/// Makes and checks link tokens.
#[derive(Clone)]
pub struct LinkKeys {
    key: Vec<u8>,
    /// The JWT keys, which signed unsubscribe links before the link key existed.
    legacy: Vec<Vec<u8>>,
}

impl LinkKeys {
    /// The stored link key (made and stored now if there is none), with the JWT keys for
    /// unsubscribe links signed before it.
    pub fn load(conn: &mut DbConn, jwt_keys: &[JwtKey], now: NaiveDateTime) -> diesel::QueryResult<Self> {
        let mut fresh = [0u8; 32];
        rand::rng().fill_bytes(&mut fresh);
        let stored = db::link_keys::get_or_create(conn, KEY_NAME, &STANDARD.encode(fresh), now)?;
        let key = STANDARD.decode(stored.as_bytes()).unwrap_or_else(|_| stored.into_bytes());
        Ok(Self::new(key, jwt_keys))
    }

    pub fn new(key: Vec<u8>, jwt_keys: &[JwtKey]) -> Self {
        Self { key, legacy: jwt_keys.iter().map(|k| k.secret.expose_secret().as_bytes().to_vec()).collect() }
    }

    /// The unsubscribe ("never email me") token for `email`.
    pub fn token(&self, email: &str) -> String {
        sign(&self.key, Purpose::Unsubscribe, email)
    }

    /// The address a valid unsubscribe token names.
    pub fn verify(&self, token: &str) -> Option<String> {
        let (text, signature) = open(token)?;
        let keys = std::iter::once(&self.key).chain(&self.legacy);
        keys.into_iter().any(|key| verify(key, Purpose::Unsubscribe, &text, &signature)).then_some(text)
    }

    /// The token accepting `user_id`'s invitation of `email` (its canonical form).
    pub fn accept_token(&self, user_id: &str, email_canonical: &str) -> String {
        sign(&self.key, Purpose::Accept, &format!("{user_id}\n{email_canonical}"))
    }

    /// The token answering `status` to the prompt of `user_id` for `incident_id`: one link of a
    /// prompt email. It works while the incident is active (checked where it is used).
    pub fn answer_token(&self, incident_id: &str, user_id: &str, status: SafetyStatus) -> String {
        sign(&self.key, Purpose::Answer, &format!("{incident_id}\n{user_id}\n{}", status.as_str()))
    }

    /// The (incident id, user id, status) a valid answer token names.
    pub fn verify_answer(&self, token: &str) -> Option<(String, String, SafetyStatus)> {
        let (text, signature) = open(token)?;
        if !verify(&self.key, Purpose::Answer, &text, &signature) {
            return None;
        }
        let mut parts = text.split('\n');
        let (incident_id, user_id, status) = (parts.next()?, parts.next()?, parts.next()?);
        Some((incident_id.to_owned(), user_id.to_owned(), status.parse().ok()?))
    }

    /// The (user id, canonical address) a valid accept token names.
    pub fn verify_accept(&self, token: &str) -> Option<(String, String)> {
        let (text, signature) = open(token)?;
        if !verify(&self.key, Purpose::Accept, &text, &signature) {
            return None;
        }
        let (user_id, email) = text.split_once('\n')?;
        Some((user_id.to_owned(), email.to_owned()))
    }
}

fn sign(key: &[u8], purpose: Purpose, text: &str) -> String {
    let signature = keyed(key, purpose, text).finalize().into_bytes();
    format!("{}.{}", URL_SAFE_NO_PAD.encode(text), URL_SAFE_NO_PAD.encode(signature))
}

/// The text and signature of a token, unchecked.
fn open(token: &str) -> Option<(String, Vec<u8>)> {
    let (text, signature) = token.split_once('.')?;
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
    Some((text, URL_SAFE_NO_PAD.decode(signature).ok()?))
}

#[expect(clippy::expect_used, reason = "HMAC takes keys of any length; new_from_slice cannot fail")]
fn keyed(key: &[u8], purpose: Purpose, text: &str) -> HmacSha256 {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(purpose.context());
    mac.update(text.as_bytes());
    mac
}

fn verify(key: &[u8], purpose: Purpose, text: &str, signature: &[u8]) -> bool {
    // Constant-time comparison.
    keyed(key, purpose, text).verify_slice(signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(secrets: &[&str]) -> Vec<JwtKey> {
        secrets
            .iter()
            .enumerate()
            .map(|(i, s)| JwtKey { kid: format!("k{i}"), secret: (*s).to_owned().into() })
            .collect()
    }

    #[test]
    fn a_token_names_its_address_and_cannot_be_forged() {
        let k = LinkKeys::new(b"link-key".to_vec(), &[]);
        let token = k.token("mum@example.org");
        assert_eq!(k.verify(&token).as_deref(), Some("mum@example.org"));
        let (_, signature) = token.split_once('.').unwrap();
        let forged = format!("{}.{signature}", URL_SAFE_NO_PAD.encode("dad@example.org"));
        assert_eq!(k.verify(&forged), None);
        assert_eq!(k.verify("garbage"), None);
        assert_eq!(LinkKeys::new(b"another".to_vec(), &[]).verify(&token), None);
    }

    #[test]
    fn jwt_rotation_does_not_touch_links_and_old_unsubscribe_links_still_verify() {
        let before = LinkKeys::new(b"link-key".to_vec(), &jwt(&["old-secret-old-secret-old-secret-0001"]));
        let token = before.token("a@example.org");
        let rotated = LinkKeys::new(b"link-key".to_vec(), &jwt(&["new-secret-new-secret-new-secret-0002"]));
        assert!(rotated.verify(&token).is_some());
        // A link signed with the JWT key, before the link key existed.
        let legacy =
            LinkKeys::new(b"old-secret-old-secret-old-secret-0001".to_vec(), &[]).token("b@example.org");
        assert!(before.verify(&legacy).is_some());
        assert!(rotated.verify(&legacy).is_none(), "it stops once its JWT key is retired");
    }

    #[test]
    fn an_accept_token_is_no_unsubscribe_token_and_the_reverse() {
        let k = LinkKeys::new(b"link-key".to_vec(), &[]);
        let accept = k.accept_token("user-1", "mum@example.org");
        assert_eq!(k.verify_accept(&accept), Some(("user-1".to_owned(), "mum@example.org".to_owned())));
        assert_eq!(k.verify(&accept), None);
        assert_eq!(k.verify_accept(&k.token("user-1\nmum@example.org")), None);
    }

    #[test]
    fn an_answer_token_names_its_prompt_and_status_and_nothing_else_passes_for_it() {
        let k = LinkKeys::new(b"link-key".to_vec(), &[]);
        let token = k.answer_token("incident-1", "user-1", SafetyStatus::NeedHelp);
        assert_eq!(
            k.verify_answer(&token),
            Some(("incident-1".into(), "user-1".into(), SafetyStatus::NeedHelp))
        );
        assert_eq!(k.verify(&token), None);
        assert_eq!(k.verify_accept(&token), None);
        let (_, signature) = token.split_once('.').unwrap();
        let other = format!("{}.{signature}", URL_SAFE_NO_PAD.encode("incident-1\nuser-2\nneed_help"));
        assert_eq!(k.verify_answer(&other), None, "another user's answer with this signature");
    }
}
