//! Request extractors that speak the contract's error body: JSON bodies,
//! the seller's session (Bearer token or cookie) and the ingest API key.

use crate::auth::{TokenClaims, bearer_token, secret_matches, session_cookie};
use crate::domain::FieldError;
use crate::domain::notification::SellerId;
use crate::error::ApiError;
use crate::sessions::{Freshness, SessionError};
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use std::collections::HashMap;

/// `axum::Json`, with its rejections turned into [`ApiError`]s: malformed
/// JSON → 400, a wrong type or missing field → 422 naming the field, too
/// large → 413, not JSON → 415.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => ApiError::Validation(field_error(&e.body_text())),
        JsonRejection::JsonSyntaxError(e) => ApiError::MalformedJson(strip_prefix(&e.body_text()).to_owned()),
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        other => ApiError::MalformedJson(other.body_text()),
    }
}

/// axum prefixes its messages with a sentence about the target type.
fn strip_prefix(text: &str) -> &str {
    text.split_once("target type: ")
        .or_else(|| text.split_once("Failed to parse the request body as JSON: "))
        .map_or(text, |(_, rest)| rest)
}

/// Turns serde's `path: message` (or `missing field `x``) into a field error.
fn field_error(text: &str) -> FieldError {
    let detail = strip_prefix(text);
    if let Some((path, message)) = detail.split_once(": ")
        && !path.is_empty()
        && path != "."
        && !path.contains(' ')
    {
        return FieldError::new(path, message);
    }
    if let Some(field) = detail.split('`').nth(1).filter(|_| detail.starts_with("missing field")) {
        return FieldError::new(field, "is required");
    }
    FieldError::new("body", detail)
}

/// The seller making the request: from `Authorization: Bearer <JWT>`, else
/// from the dashboard's session cookie, whose session still counts. 401
/// otherwise.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AuthSeller(pub SellerId);

impl FromRequestParts<AppState> for AuthSeller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(parts, state, Freshness::Cached).await.map(|claims| Self(claims.seller))
    }
}

/// [`AuthSeller`] with its token's session, read from the store (never the
/// cache): for what ends sessions or changes the password.
#[derive(Debug, Clone)]
pub(crate) struct AuthSession(pub TokenClaims);

impl FromRequestParts<AppState> for AuthSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(parts, state, Freshness::Fresh).await.map(Self)
    }
}

async fn authenticate(
    parts: &Parts,
    state: &AppState,
    freshness: Freshness,
) -> Result<TokenClaims, ApiError> {
    let token = request_token(&parts.headers)
        .ok_or(ApiError::Unauthorized("missing credentials: send a Bearer token or log in"))?;
    match state.sessions.authenticate(&token, freshness).await {
        Ok(claims) => Ok(claims),
        Err(SessionError::Invalid) => Err(ApiError::Unauthorized("invalid, expired or revoked token")),
        Err(SessionError::Store(error)) => Err(error.into()),
    }
}

/// The token a request carries: its Bearer token, else its session cookie.
pub(crate) fn request_token(headers: &HeaderMap) -> Option<String> {
    bearer_token(headers).or_else(|| session_cookie(headers))
}

/// A publishing service, proven by `X-Api-Key`. 503 `ingest_disabled` when no
/// key is configured; 401 for a missing or wrong key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IngestKey;

impl FromRequestParts<AppState> for IngestKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(expected) = &state.ingest_api_key else {
            return Err(ApiError::Unavailable {
                code: "ingest_disabled",
                message: "ingest is disabled: INGEST_API_KEY is not configured".into(),
            });
        };
        let given = parts.headers.get("x-api-key").and_then(|v| v.to_str().ok()).unwrap_or("");
        if secret_matches(expected, given) {
            Ok(Self)
        } else {
            Err(ApiError::Unauthorized("missing or invalid X-Api-Key"))
        }
    }
}

/// The query string, read leniently: parameters are looked up by name and
/// parsed one by one, so a bad value is a 422 naming that parameter.
#[derive(Debug, Clone, Default)]
pub(crate) struct QueryParams(HashMap<String, String>);

impl QueryParams {
    /// An optional integer parameter.
    pub(crate) fn int(&self, field: &str) -> Result<Option<i64>, FieldError> {
        match self.0.get(field).map(|v| v.trim()) {
            None | Some("") => Ok(None),
            Some(text) => {
                text.parse::<i64>().map(Some).map_err(|_| FieldError::new(field, "must be an integer"))
            }
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<HashMap<String, String>>::from_request_parts(parts, state).await {
            Ok(Query(map)) => Ok(Self(map)),
            Err(e) => Err(FieldError::new("query", e.body_text()).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_paths_become_field_names() {
        let error = field_error(
            "Failed to deserialize the JSON body into the target type: items[0].quantity: invalid type: string \"x\", expected i64 at line 1 column 9",
        );
        assert_eq!(error.field, "items[0].quantity");
        let error = field_error(
            "Failed to deserialize the JSON body into the target type: missing field `email` at line 1 column 2",
        );
        assert_eq!(error.field, "email");
    }

    #[test]
    fn query_ints_name_their_field() {
        let params =
            QueryParams(HashMap::from([("limit".into(), "20".into()), ("after".into(), "x".into())]));
        assert_eq!(params.int("limit").unwrap(), Some(20));
        assert_eq!(params.int("before").unwrap(), None);
        assert_eq!(params.int("after").unwrap_err().field, "after");
    }
}
