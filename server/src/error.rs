//! The one HTTP error type. Every failure a handler can return maps to a
//! status and the contract's body `{"error": "<code>", "message": "<text>"}`.
//!
//! Internal errors answer with a generic message; their cause is logged once,
//! here, inside the request's span, and never shown to the client. Client
//! mistakes are logged at debug level with their code.

use crate::domain::FieldError;
use crate::store::StoreError;
use app::types::ErrorBody;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not valid JSON.
    #[error("{0}")]
    MalformedJson(String),
    /// 401: missing or bad credentials (token, password or API key).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 404: no such route, or a resource the caller may not see (ids do not leak).
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists with other methods.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: the request conflicts with existing data; the code says how.
    #[error("{message}")]
    Conflict { code: &'static str, message: &'static str },
    /// 413: the body is larger than this route accepts.
    #[error("request body too large (64 KiB at most; 1 MiB for a notification batch)")]
    PayloadTooLarge,
    /// 415: the body is not declared as JSON.
    #[error("expected a JSON body with Content-Type: application/json")]
    UnsupportedMediaType,
    /// 422: the body parsed but breaks a rule; the message names the field.
    #[error("{0}")]
    Validation(FieldError),
    /// 429: too many requests from this client; retry after the delay.
    #[error("too many requests; retry in {} s", retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    /// 503: a dependency this request needs is unavailable; `code` says which.
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    /// 500: anything unexpected. Logged with its cause chain.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MalformedJson(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedJson(_) => "malformed_json",
            Self::Unauthorized(_) => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict { code, .. } => code,
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Validation(_) => "validation_failed",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable { code, .. } => code,
            Self::Internal(_) => "internal",
        }
    }

    /// CONTRACT: the error body, for HTTP and socket acks alike. An internal
    /// error's cause is never shown (it is logged where it is handled).
    pub fn body(&self) -> ErrorBody {
        let message = match self {
            Self::Internal(_) => "internal server error".to_owned(),
            other => other.to_string(),
        };
        ErrorBody { error: self.code().to_owned(), message }
    }

    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }
}

impl From<FieldError> for ApiError {
    fn from(error: FieldError) -> Self {
        Self::Validation(error)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::EmailTaken => {
                Self::Conflict { code: "email_taken", message: "this email is already registered" }
            }
            StoreError::NotFound => Self::not_found("resource"),
            StoreError::UnknownSeller { seller_id, .. } => {
                Self::NotFound(format!("seller {seller_id} not found"))
            }
            StoreError::WriterStopped => {
                Self::Unavailable { code: "shutting_down", message: "the server is shutting down".into() }
            }
            StoreError::Database(e) => Self::Internal(anyhow::Error::new(e).context("database query failed")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Internal(cause) => tracing::error!(error = ?cause, "request failed"),
            // Inside the request's span, so the line names method and path.
            other => tracing::info!(
                status = other.status().as_u16(),
                code = other.code(),
                "request refused: {other}"
            ),
        }
        let retry_after = match &self {
            Self::RateLimited { retry_after } => Some(retry_after.as_secs().max(1)),
            _ => None,
        };
        let mut response = (self.status(), Json(self.body())).into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(error: ApiError) -> (StatusCode, ErrorBody) {
        let response = error.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn internal_errors_hide_their_cause() {
        let (status, body) = body_of(ApiError::Internal(anyhow::anyhow!("disk on fire"))).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body.error, "internal");
        assert!(!body.message.contains("disk"));
    }

    #[tokio::test]
    async fn unavailable_carries_its_own_code() {
        let error = ApiError::Unavailable { code: "ingest_disabled", message: "ingest is disabled".into() };
        let (status, body) = body_of(error).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body.error, "ingest_disabled");
    }

    #[tokio::test]
    async fn validation_names_the_field() {
        let (status, body) = body_of(FieldError::new("items[2].quantity", "must be 1 to 1000").into()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body.error, "validation_failed");
        assert!(body.message.starts_with("items[2].quantity:"), "{}", body.message);
    }

    #[tokio::test]
    async fn rate_limited_says_when_to_retry() {
        let response = ApiError::RateLimited { retry_after: Duration::from_secs(17) }.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "17");
    }
}
