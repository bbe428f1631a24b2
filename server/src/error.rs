//! The one HTTP error type. Every failure a handler can return maps to a
//! status and the contract's body `{"error": "<code>", "message": "<text>"}`.
//!
//! Internal errors answer with a generic message; their cause is logged once,
//! here, inside the request's span, and never shown to the client.

use app::types::ErrorBody;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404: no such route, or a resource the caller may not see (ids do not leak).
    #[error("{0}")]
    NotFound(&'static str),
    /// 405: the route exists with other methods.
    #[error("method not allowed")]
    MethodNotAllowed,
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
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Unavailable { code, .. } => code,
            Self::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = match &self {
            Self::Internal(cause) => {
                tracing::error!(error = ?cause, "request failed");
                "internal server error".to_owned()
            }
            other => {
                tracing::debug!(code = other.code(), "request refused: {other}");
                other.to_string()
            }
        };
        let body = ErrorBody {
            error: self.code().to_owned(),
            message,
        };
        (self.status(), Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(error: ApiError) -> (StatusCode, ErrorBody) {
        let response = error.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
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
        let error = ApiError::Unavailable {
            code: "database_down",
            message: "database unreachable".into(),
        };
        let (status, body) = body_of(error).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body.error, "database_down");
        assert_eq!(body.message, "database unreachable");
    }
}
