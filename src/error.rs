//! `ApiError`: every failure at the HTTP edge, rendered as an RFC 9457 problem document.

use crate::db::group_commit::GroupError;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::db::DbError;
pub use crate::domain::FieldError;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Everything a handler can fail with. Each variant's doc says its status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body or a parameter cannot be read (malformed JSON, wrong type).
    #[error("{detail}")]
    BadRequest { detail: String, errors: Vec<FieldError> },
    /// 422: the request is well-formed but a value is not acceptable.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 401: no valid credentials. Carries `WWW-Authenticate: Bearer`.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403: authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 404: no such resource (or not visible to this caller).
    #[error("not found")]
    NotFound,
    /// 405: the path exists, the method does not. Carries `Allow`.
    #[error("method not allowed")]
    MethodNotAllowed { allow: String },
    /// 409: conflicts with the current state (a duplicate, a resolved incident).
    #[error("{detail}")]
    Conflict { detail: String, errors: Vec<FieldError> },
    /// 413: the body is larger than the configured limit.
    #[error("request body too large")]
    PayloadTooLarge { limit: usize },
    /// 415: the body is not JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 429: too many attempts. Carries `Retry-After`.
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    /// 429: the named limit is reached. Carries `Retry-After`; the problem's `limit` names it,
    /// and so does its one `errors` entry (as a field is named), with `detail`.
    #[error("{detail}")]
    RateLimited { limit: &'static str, detail: String, retry_after_secs: u64 },
    /// 503: the named capacity is full for now (password hashing). Carries `Retry-After`; the
    /// problem's `limit` names it.
    #[error("{limit} is at capacity")]
    Busy { limit: &'static str, retry_after_secs: u64 },
    /// 503: the database (or another dependency) is unreachable. Carries `Retry-After`.
    #[error("service unavailable")]
    Unavailable,
    /// 500: a bug or an unexpected failure. The body says nothing more; the cause is logged.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A 422 with one field problem.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    /// A 409 naming the field whose value is already taken.
    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError::Conflict { detail: message.clone(), errors: vec![FieldError::new(field, message)] }
    }

    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::BadRequest { .. } => ("bad-request", "Bad request"),
            ApiError::Validation(_) => ("validation-error", "Validation failed"),
            ApiError::Unauthorized(_) => ("unauthorized", "Unauthorized"),
            ApiError::Forbidden(_) => ("forbidden", "Forbidden"),
            ApiError::NotFound => ("not-found", "Not found"),
            ApiError::MethodNotAllowed { .. } => ("method-not-allowed", "Method not allowed"),
            ApiError::Conflict { .. } => ("conflict", "Conflict"),
            ApiError::PayloadTooLarge { .. } => ("payload-too-large", "Request body too large"),
            ApiError::UnsupportedMediaType => ("unsupported-media-type", "Unsupported media type"),
            ApiError::TooManyRequests { .. } => ("too-many-requests", "Too many requests"),
            ApiError::RateLimited { .. } => ("rate-limited", "Too many requests"),
            ApiError::Busy { .. } => ("busy", "Busy"),
            ApiError::Unavailable => ("service-unavailable", "Service unavailable"),
            ApiError::Internal(_) => ("internal-error", "Internal server error"),
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::Validation(errors) => match errors.as_slice() {
                [one] => format!("{}: {}", one.field, one.message),
                _ => "some fields are not valid; see errors".to_owned(),
            },
            ApiError::PayloadTooLarge { limit } => {
                format!("the request body is larger than the limit of {limit} bytes")
            }
            ApiError::UnsupportedMediaType => {
                "send the body as JSON with Content-Type: application/json".to_owned()
            }
            ApiError::TooManyRequests { retry_after_secs } => {
                format!("too many attempts; try again in {retry_after_secs} seconds")
            }
            ApiError::RateLimited { detail, .. } => detail.clone(),
            ApiError::Busy { limit, retry_after_secs } => {
                format!("{limit} is at capacity; try again in {retry_after_secs} seconds")
            }
            ApiError::Unavailable => {
                "the service cannot reach its database right now; try again shortly".to_owned()
            }
            ApiError::NotFound => "no resource at this address".to_owned(),
            ApiError::MethodNotAllowed { allow } => {
                format!("this resource does not support that method; allowed: {allow}")
            }
            ApiError::Internal(_) => "an unexpected error occurred; it has been logged".to_owned(),
            other => other.to_string(),
        }
    }

    fn errors(&self) -> Vec<FieldError> {
        match self {
            ApiError::RateLimited { limit, detail, .. } => vec![FieldError::new(*limit, detail.clone())],
            ApiError::BadRequest { errors, .. }
            | ApiError::Conflict { errors, .. }
            | ApiError::Validation(errors) => errors.clone(),
            _ => Vec::new(),
        }
    }
}

/// The problem document (RFC 9457).
#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'static str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
    /// The limit reached (429, and 503 for a full capacity).
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<&'static str>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } | ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = ?cause, "request failed");
        }
        let status = self.status_code();
        let (slug, title) = self.kind();
        let problem = Problem {
            kind: format!("urn:safecheck:problem:{slug}"),
            title,
            status: status.as_u16(),
            detail: self.detail(),
            errors: &self.errors(),
            limit: match self {
                ApiError::RateLimited { limit, .. } | ApiError::Busy { limit, .. } => Some(*limit),
                _ => None,
            },
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        match self {
            ApiError::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, allow.as_str()));
            }
            ApiError::TooManyRequests { retry_after_secs }
            | ApiError::RateLimited { retry_after_secs, .. }
            | ApiError::Busy { retry_after_secs, .. } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ApiError::Unavailable => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            _ => {}
        }
        // Serializing this struct cannot fail; the fallback keeps the signature honest.
        let body = serde_json::to_string(&problem).unwrap_or_else(|_| "{}".to_owned());
        response.body(body)
    }
}

impl From<crate::limits::Refused> for ApiError {
    fn from(refused: crate::limits::Refused) -> Self {
        let crate::limits::Refused { limit, max, window_secs, retry_after_secs } = refused;
        ApiError::RateLimited {
            limit,
            detail: format!(
                "{limit}: at most {max} per {window_secs} seconds per user; try again in {retry_after_secs} seconds"
            ),
            retry_after_secs,
        }
    }
}

impl From<crate::limits::LimitError> for ApiError {
    fn from(error: crate::limits::LimitError) -> Self {
        match error {
            crate::limits::LimitError::Refused(refused) => refused.into(),
            crate::limits::LimitError::Database(e) => e.into(),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        if error.is_unavailable() {
            tracing::warn!(error = %error, "database unavailable");
            return ApiError::Unavailable;
        }
        match error {
            DbError::Query(diesel::result::Error::NotFound) => ApiError::NotFound,
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        DbError::Query(error).into()
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        ApiError::Internal(anyhow::anyhow!("blocking task failed: {error}"))
    }
}

/// A problem document for a bare status that actix or a middleware produced without a body.
pub fn status_problem(status: StatusCode) -> HttpResponse {
    let title = status.canonical_reason().unwrap_or("Error");
    let body = serde_json::json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "detail": title,
    });
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)))
        .body(body.to_string())
}

/// The writer's refusals: nothing was written.
impl From<GroupError> for ApiError {
    fn from(error: GroupError) -> Self {
        match error {
            GroupError::Full => ApiError::Busy { limit: "answer_queue", retry_after_secs: 1 },
            GroupError::Stopped | GroupError::Unavailable => ApiError::Unavailable,
        }
    }
}
