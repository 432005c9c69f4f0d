//! The `Idempotency-Key` protocol (IETF draft "The Idempotency-Key HTTP Header Field") around a
//! request that creates something: the first request with a key runs and stores its response;
//! a retry with the same body replays it; another body is 422; a retry while the first still
//! runs is 409. A request that fails frees its key, so the client's retry runs again.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use crate::db::idempotency::Begin;
use crate::db::{self, DbConn};
use crate::error::ApiError;
use crate::routes::with_writer;
use crate::state::AppState;

/// A first request still "running" after this is taken to have died with its process.
const KEY_ABANDONED_AFTER: chrono::Duration = chrono::Duration::seconds(60);
const MAX_KEY_LEN: usize = 255;

/// The request's `Idempotency-Key`, if it sent one.
pub fn key_of(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("Idempotency-Key") else { return Ok(None) };
    let key =
        value.to_str().map_err(|_| ApiError::invalid("Idempotency-Key", "must be printable ASCII"))?.trim();
    // The draft's sf-string: quotes are allowed around the key.
    let key = key.strip_prefix('"').and_then(|k| k.strip_suffix('"')).unwrap_or(key);
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(ApiError::invalid("Idempotency-Key", format!("must be 1 to {MAX_KEY_LEN} characters")));
    }
    Ok(Some(key.to_owned()))
}

/// What a key says about this request.
pub enum Claim {
    /// Run it; with a key, the key is held until [`HeldKey::finish`] or [`HeldKey::release`].
    Run(Option<HeldKey>),
    /// Answered already: replay, or refuse.
    Answered(HttpResponse),
}

/// A key this request holds while it runs.
#[derive(Clone, Debug)]
pub struct HeldKey {
    user_id: String,
    key: String,
}

/// Claims `key` (if any) for the caller's request identified by `fingerprint` (everything that
/// makes two requests the same: path and body). A replay gets `location` as its `Location`.
pub async fn claim(
    state: &AppState,
    user_id: &str,
    key: Option<String>,
    fingerprint: &[&[u8]],
    location: &str,
) -> Result<Claim, ApiError> {
    let Some(key) = key else { return Ok(Claim::Run(None)) };
    let hash = hex::encode(Sha256::digest(fingerprint.join(&b"\0"[..])));
    let held = HeldKey { user_id: user_id.to_owned(), key };
    let now = state.clock.now();
    // Keys live this long (by default the draft's and Stripe's 24 h); housekeeping then deletes them.
    let ttl = state.config.retention.idempotency_key_ttl;
    let (user, k) = (held.user_id.clone(), held.key.clone());
    let begun = with_writer(state, move |conn| {
        Ok(db::idempotency::begin(conn, &user, &k, &hash, now, ttl, KEY_ABANDONED_AFTER)?)
    })
    .await?;
    match begun {
        Begin::Started => Ok(Claim::Run(Some(held))),
        Begin::Replay { status, body } => {
            let status = StatusCode::from_u16(status).map_err(|e| {
                ApiError::Internal(anyhow::anyhow!("a stored idempotent response has status {status}: {e}"))
            })?;
            Ok(Claim::Answered(
                HttpResponse::build(status)
                    .content_type("application/json")
                    .insert_header(("Location", location.to_owned()))
                    .insert_header(("Idempotent-Replayed", "true"))
                    .body(body),
            ))
        }
        Begin::Mismatch => {
            Err(ApiError::invalid("Idempotency-Key", "was used before with a different request body"))
        }
        Begin::InProgress => Err(ApiError::Conflict {
            detail: "a request with this Idempotency-Key is still being processed".into(),
            errors: vec![],
        }),
    }
}

impl HeldKey {
    /// Stores the response for replays, in the request's own transaction.
    pub fn finish(&self, conn: &mut DbConn, status: StatusCode, body: &str) -> diesel::QueryResult<()> {
        db::idempotency::finish(conn, &self.user_id, &self.key, status.as_u16(), body)
    }

    /// Frees the key after the request failed (a refusal, or the database going away), so the
    /// client's retry runs again. Best effort: if this fails too, the key is taken as abandoned
    /// after a minute.
    pub async fn release(self, state: &AppState) {
        let freed =
            with_writer(state, move |conn| Ok(db::idempotency::abandon(conn, &self.user_id, &self.key)?))
                .await;
        if let Err(e) = freed {
            tracing::warn!(error = %e, "could not free an idempotency key");
        }
    }
}
