//! Request extractors whose failures are problem documents that name the field.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};
use crate::state::AppState;

/// A JSON body, read up to the configured size limit and parsed so that a wrong type names its
/// field (`area.center.lat: invalid type ...`).
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = is_json(req);
        let limit =
            req.app_data::<web::Data<AppState>>().map_or(1024 * 1024, |state| state.config.max_body_bytes);
        let declared_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::UnsupportedMediaType);
            }
            if declared_length.is_some_and(|length| length > limit) {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| ApiError::BadRequest {
                    detail: format!("the request body could not be read: {e}"),
                    errors: vec![],
                })?;
                if body.len() + chunk.len() > limit {
                    return Err(ApiError::PayloadTooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            parse_json(&body).map(Json)
        })
    }
}

impl<T: DeserializeOwned> Json<T> {
    /// Parses a body already read (a handler that also needs the raw bytes, as for hashing an
    /// idempotent request), with the same content-type check.
    pub fn from_bytes(req: &HttpRequest, body: &[u8]) -> Result<Self, ApiError> {
        if !is_json(req) {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse_json(body).map(Json)
    }
}

/// Whether the request says its body is JSON (`application/json` or `application/*+json`).
fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Parses `body` as `T`; a failure is a 400 naming the field where serde stopped.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // serde_json does not check the UTF-8 of strings it skips (unknown fields): check it all.
    if let Err(e) = std::str::from_utf8(body) {
        return Err(ApiError::BadRequest {
            detail: format!("the body is not valid UTF-8 (at byte {})", e.valid_up_to()),
            errors: vec![],
        });
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        json_error(&path, &inner)
    })?;
    deserializer.end().map_err(|e| json_error(".", &e))?;
    // serde also fills a struct from an array of its fields: every body here is an object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::BadRequest { detail: "the body must be a JSON object".into(), errors: vec![] });
    }
    Ok(value)
}

fn json_error(path: &str, error: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match error.classify() {
        Category::Data => {
            let message = error.to_string();
            // serde reports a missing field at its parent; name the field itself.
            let field = match message.strip_prefix("missing field `").and_then(|m| m.split('`').next()) {
                Some(missing) if path == "." => missing.to_owned(),
                Some(missing) => format!("{path}.{missing}"),
                None => path.to_owned(),
            };
            let message = strip_position(&message);
            ApiError::BadRequest {
                detail: format!("{field}: {message}"),
                errors: vec![FieldError::new(field, message)],
            }
        }
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::BadRequest { detail: format!("the body is not valid JSON: {error}"), errors: vec![] }
        }
    }
}

/// serde_json appends " at line L column C"; the field path says more to a client.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[expect(dead_code, reason = "fields exist to be parsed")]
    struct Point {
        lat: f64,
        lon: f64,
    }

    #[derive(Debug, serde::Deserialize)]
    #[expect(dead_code, reason = "fields exist to be parsed")]
    struct Wrapper {
        point: Point,
    }

    fn field_of(error: ApiError) -> String {
        match error {
            ApiError::BadRequest { errors, .. } => errors[0].field.clone(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_wrong_type_names_the_nested_field() {
        let err = parse_json::<Wrapper>(br#"{"point":{"lat":"x","lon":1}}"#).unwrap_err();
        assert_eq!(field_of(err), "point.lat");
    }

    #[test]
    fn a_missing_field_is_named() {
        let err = parse_json::<Point>(br#"{"lat":1}"#).unwrap_err();
        assert_eq!(field_of(err), "lon");
        let err = parse_json::<Wrapper>(br#"{"point":{"lat":1}}"#).unwrap_err();
        assert_eq!(field_of(err), "point.lon");
    }

    #[test]
    fn malformed_json_and_trailing_garbage_are_bad_requests() {
        assert!(matches!(parse_json::<Point>(b"{"), Err(ApiError::BadRequest { .. })));
        assert!(matches!(parse_json::<Point>(br#"{"lat":1,"lon":2} x"#), Err(ApiError::BadRequest { .. })));
        assert!(matches!(parse_json::<Point>(b"\xff\xfe"), Err(ApiError::BadRequest { .. })));
    }
}
