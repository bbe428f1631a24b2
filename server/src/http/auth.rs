//! CONTRACT: `POST /api/auth/register`, `POST /api/auth/login`; plus, for
//! the dashboard, `GET /api/auth/me` and what ends sessions: logout (this
//! session), sign out everywhere, and a password change (every session,
//! their sockets disconnected on every instance).

use super::extract::{ApiJson, AuthSeller, AuthSession, request_token};
use crate::auth::{SESSION_COOKIE, decoy_hash, hash_password, off_the_async_workers, verify_password};
use crate::domain::FieldError;
use crate::domain::notification::SellerId;
use crate::domain::seller::{Email, Password, ShopName};
use crate::error::ApiError;
use crate::gateway;
use crate::sessions::Freshness;
use crate::state::AppState;
use anyhow::Context;
use app::types::{AuthResponse, Seller};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
pub(super) struct RegisterBody {
    email: String,
    password: String,
    shop_name: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct LoginBody {
    email: String,
    password: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct PasswordBody {
    current_password: String,
    new_password: String,
}

/// CONTRACT: `201 {"token","seller"}`; `409` email taken; `422` invalid.
pub(super) async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<Response, ApiError> {
    let email = Email::parse(&body.email)?;
    let password = Password::parse(&body.password)?;
    let shop_name = ShopName::parse(&body.shop_name)?;

    // argon2 takes tens of milliseconds of CPU: keep it off the async workers.
    let hash = off_the_async_workers(move || hash_password(password.expose())).await??;
    let seller = state.database.create_seller(&email, &hash, &shop_name).await?;
    tracing::info!(seller_id = seller.id, "seller registered");
    signed_in(&state, StatusCode::CREATED, seller).await
}

/// CONTRACT: `200 {"token","seller"}`; `401` wrong credentials.
pub(super) async fn login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    const WRONG: ApiError = ApiError::Unauthorized("wrong email or password");
    // A malformed email cannot be registered: same answer as a wrong one.
    let credentials = match Email::parse(&body.email) {
        Ok(email) => state.database.credentials(&email).await?,
        Err(_) => None,
    };
    // Unknown emails are checked against a decoy hash, so both cases take
    // the same time and the answer does not reveal who is registered.
    let hash = credentials.as_ref().map_or_else(|| decoy_hash().to_owned(), |c| c.password_hash.clone());
    let password = body.password;
    let matches = off_the_async_workers(move || verify_password(&password, &hash)).await?;

    match credentials {
        Some(c) if matches => {
            tracing::info!(seller_id = c.id, "seller logged in");
            signed_in(&state, StatusCode::OK, Seller { id: c.id, email: c.email, shop_name: c.shop_name })
                .await
        }
        _ => {
            tracing::info!("login refused: wrong email or password");
            Err(WRONG)
        }
    }
}

/// Ends the session of the request's token (Bearer or cookie), if it has
/// one that still counts, disconnects its sockets, and clears the cookie.
/// `204` either way: signing out twice is not an error.
pub(super) async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let claims = match request_token(&headers) {
        Some(token) => state.sessions.authenticate(&token, Freshness::Fresh).await.ok(),
        None => None,
    };
    if let Some(claims) = claims
        && let Some(session) = &claims.session
    {
        match state.sessions.end(claims.seller, session).await {
            Ok(revoked) => {
                tracing::info!(seller_id = claims.seller.0, revoked, "signed out: session revoked");
                gateway::disconnect_session(&state.io, session).await;
            }
            Err(error) => {
                return ApiError::from(error).into_response();
            }
        }
    }
    signed_out(&state, StatusCode::NO_CONTENT.into_response())
}

/// "Sign out everywhere": ends every session of the seller, this one
/// included, and disconnects all their sockets on every instance. `204`.
pub(super) async fn logout_everywhere(
    State(state): State<AppState>,
    AuthSession(claims): AuthSession,
) -> Result<Response, ApiError> {
    let revoked = state.sessions.end_all(claims.seller).await?;
    gateway::disconnect_seller(&state.io, claims.seller).await;
    tracing::info!(seller_id = claims.seller.0, revoked, "signed out everywhere: every session revoked");
    Ok(signed_out(&state, StatusCode::NO_CONTENT.into_response()))
}

/// Changes the password: the current one must match. Every session ends
/// and every socket is disconnected (a thief who had the old password or a
/// token is out); this device gets a new session: `200 {"token","seller"}`.
/// A wrong current password is `422` naming `current_password` (a `401`
/// would read as "your session is gone").
pub(super) async fn change_password(
    State(state): State<AppState>,
    AuthSession(claims): AuthSession,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<Response, ApiError> {
    let new_password = Password::parse(&body.new_password)
        .map_err(|error| ApiError::Validation(FieldError::new("new_password", error.message)))?;
    let seller = claims.seller;
    let hash = state.database.password_hash(seller).await?;
    let current = body.current_password;
    if !off_the_async_workers(move || verify_password(&current, &hash)).await? {
        tracing::info!(seller_id = seller.0, "password change refused: wrong current password");
        return Err(ApiError::Validation(FieldError::new("current_password", "is not the current password")));
    }
    let new_hash = off_the_async_workers(move || hash_password(new_password.expose())).await??;
    let revoked = state.sessions.change_password(seller, &new_hash).await?;
    gateway::disconnect_seller(&state.io, seller).await;
    tracing::info!(seller_id = seller.0, revoked, "password changed: every session revoked");
    let profile = state.database.seller(seller).await?;
    signed_in(&state, StatusCode::OK, profile).await
}

/// `response` with the session cookie cleared.
fn signed_out(state: &AppState, mut response: Response) -> Response {
    let cookie = format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if state.secure_cookies { "; Secure" } else { "" }
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `200 {"seller"}` for the signed-in seller.
pub(super) async fn me(
    State(state): State<AppState>,
    AuthSeller(seller): AuthSeller,
) -> Result<Json<serde_json::Value>, ApiError> {
    let seller = state.database.seller(seller).await?;
    Ok(Json(json!({ "seller": seller })))
}

/// A new session: its token in the body (for API clients) and in an
/// HttpOnly cookie (for the dashboard, where scripts never see it).
async fn signed_in(state: &AppState, status: StatusCode, seller: Seller) -> Result<Response, ApiError> {
    let (_, token) = state.sessions.start(SellerId(seller.id)).await?;
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        state.sessions.ttl().as_secs(),
        if state.secure_cookies { "; Secure" } else { "" }
    );
    let mut response = (status, Json(AuthResponse { token, seller })).into_response();
    let cookie = HeaderValue::from_str(&cookie).context("session cookie is not a valid header")?;
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}
