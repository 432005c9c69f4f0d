//! Access tokens: HS256 JWTs with `sub`, `role`, `iat`, `exp`, `iss`, `aud`, `jti` and a `kid`
//! header. Validation pins the algorithm and checks `iss` and `aud` (RFC 8725), and `exp`
//! against the injected clock rather than the system's, so tests can move time.

use std::time::Duration;

use chrono::NaiveDateTime;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::domain::Role;

/// Clock skew tolerated between the processes that issue and check tokens.
const LEEWAY_SECS: i64 = 5;

/// The audience every access token names.
pub const AUDIENCE: &str = "safecheck-api";

/// The claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
    /// `iat` in milliseconds (ours; tokens without it are judged by `iat`): the whole seconds of
    /// `iat` cannot tell a token issued just before a password change from one issued just
    /// after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat_ms: Option<i64>,
}

struct Key {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// The keys tokens are signed with (the first) and accepted with (all of them).
pub struct TokenKeys {
    keys: Vec<Key>,
    issuer: String,
    ttl: Duration,
    validation: Validation,
}

impl TokenKeys {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let keys = config
            .jwt_keys
            .iter()
            .map(|key| {
                let secret = key.secret.expose_secret().as_bytes();
                Ok(Key {
                    kid: key.kid.clone(),
                    encoding: EncodingKey::from_secret(secret)?,
                    decoding: DecodingKey::from_secret(secret)?,
                })
            })
            .collect::<Result<Vec<_>, jsonwebtoken::errors::Error>>()?;
        anyhow::ensure!(!keys.is_empty(), "no JWT key configured (SAFECHECK_JWT_SECRET)");
        let issuer = config.public_url.clone();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        // `exp` is checked in `verify` against the caller's clock; the library reads the system's.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_issuer(&[&issuer]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        Ok(Self { keys, issuer, ttl: config.access_token_ttl, validation })
    }

    /// Access token lifetime, for `expires_in`.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Signs a token for `user_id` with the current key, issued at `now`.
    pub fn issue(&self, user_id: &str, role: Role, now: NaiveDateTime) -> anyhow::Result<String> {
        let key = self.keys.first().ok_or_else(|| anyhow::anyhow!("no signing key"))?;
        let now_ms = now.and_utc().timestamp_millis();
        let now = now.and_utc().timestamp();
        let claims = Claims {
            sub: user_id.to_owned(),
            role,
            iat: now,
            exp: now + i64::try_from(self.ttl.as_secs())?,
            iss: self.issuer.clone(),
            aud: AUDIENCE.to_owned(),
            jti: uuid::Uuid::new_v4().to_string(),
            iat_ms: Some(now_ms),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        Ok(jsonwebtoken::encode(&header, &claims, &key.encoding)?)
    }

    /// The claims of a token valid at `now`; `None` for anything else (the reason is not for
    /// clients).
    pub fn verify(&self, token: &str, now: NaiveDateTime) -> Option<Claims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::HS256 {
            return None;
        }
        let kid = header.kid?;
        let key = self.keys.iter().find(|k| k.kid == kid)?;
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &self.validation).ok()?.claims;
        let now = now.and_utc().timestamp();
        // As jsonwebtoken's own check did: expired once `exp` is more than the leeway behind.
        (claims.exp.saturating_add(LEEWAY_SECS) >= now).then_some(claims)
    }
}
