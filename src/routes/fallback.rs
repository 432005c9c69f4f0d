//! Answers for requests no route takes, and for errors actix raises before a handler runs.

use actix_web::error::{PathError, QueryPayloadError};
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use crate::error::{ApiError, FieldError};

/// 404 for a path no route serves.
pub async fn not_found() -> HttpResponse {
    ApiError::NotFound.error_response()
}

/// 405 for a served path with a method it does not support.
pub fn method_not_allowed(allow: String) -> HttpResponse {
    ApiError::MethodNotAllowed { allow }.error_response()
}

/// A query string that does not parse: 400 naming the parameter where possible.
pub fn query_error(error: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let message = error.to_string();
    let field = message.split('`').nth(1).map(str::to_owned).unwrap_or_else(|| "query".to_owned());
    ApiError::BadRequest {
        detail: format!("the query string is not valid: {message}"),
        errors: vec![FieldError::new(field, message)],
    }
    .into()
}

/// A path segment that does not parse: the resource does not exist.
pub fn path_error(_error: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::NotFound.into()
}
