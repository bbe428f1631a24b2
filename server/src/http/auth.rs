//! CONTRACT: `POST /api/auth/register`, `POST /api/auth/login`; plus logout
//! and `GET /api/auth/me` for the dashboard.

use super::extract::{ApiJson, AuthSeller};
use crate::auth::{SESSION_COOKIE, decoy_hash, hash_password, off_the_async_workers, verify_password};
use crate::domain::notification::SellerId;
use crate::domain::seller::{Email, Password, ShopName};
use crate::error::ApiError;
use crate::state::AppState;
use anyhow::Context;
use app::types::{AuthResponse, Seller};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
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
    signed_in(&state, StatusCode::CREATED, seller)
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
        }
        _ => {
            tracing::info!("login refused: wrong email or password");
            Err(WRONG)
        }
    }
}

/// Ends the dashboard session: clears the cookie. Bearer tokens simply expire.
pub(super) async fn logout(State(state): State<AppState>) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
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

/// The token in the body (for API clients) and in an HttpOnly cookie (for
/// the dashboard, where scripts never see it).
fn signed_in(state: &AppState, status: StatusCode, seller: Seller) -> Result<Response, ApiError> {
    let token = state.keys.issue(SellerId(seller.id))?;
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        state.keys.ttl().as_secs(),
        if state.secure_cookies { "; Secure" } else { "" }
    );
    let mut response = (status, Json(AuthResponse { token, seller })).into_response();
    let cookie = HeaderValue::from_str(&cookie).context("session cookie is not a valid header")?;
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}
