//! The dashboard's REST client: one function per `docs/CONTRACT.md` call it uses,
//! over the browser's `fetch` (same origin, so the session cookie goes along).
//!
//! Pages call it from effects and event handlers, which run only in the
//! browser; the server build compiles the same functions with a transport
//! that always answers [`ApiError::Network`], so no page needs a `cfg`.

use crate::types::{AuthResponse, ErrorBody, NewOrderBody, Notification, Order, Seller, Shop, Stats};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::fmt;

/// Why a call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No answer: offline, or the server is unreachable.
    Network(String),
    /// The server answered with an error status and the contract's body.
    Refused { status: u16, body: ErrorBody },
}

impl ApiError {
    /// True when the server says the session is missing or expired.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Refused { status: 401, .. })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Network(_) => {
                write!(f, "The server cannot be reached. Check your connection and try again.")
            }
            Self::Refused { body, .. } => write!(f, "{}", body.message),
        }
    }
}

pub async fn register(email: &str, password: &str, shop_name: &str) -> Result<AuthResponse, ApiError> {
    let body = json!({ "email": email, "password": password, "shop_name": shop_name });
    post("/api/auth/register", Some(body)).await
}

pub async fn login(email: &str, password: &str) -> Result<AuthResponse, ApiError> {
    post("/api/auth/login", Some(json!({ "email": email, "password": password }))).await
}

pub async fn logout() -> Result<(), ApiError> {
    post::<Value>("/api/auth/logout", None).await.map(drop)
}

/// Ends every session of the seller, this one included.
pub async fn logout_everywhere() -> Result<(), ApiError> {
    post::<Value>("/api/auth/logout-everywhere", None).await.map(drop)
}

/// Ends every session of the seller; this browser gets a new one.
pub async fn change_password(current: &str, new: &str) -> Result<AuthResponse, ApiError> {
    post("/api/auth/password", Some(json!({ "current_password": current, "new_password": new }))).await
}

pub async fn me() -> Result<Seller, ApiError> {
    field(get("/api/auth/me").await?, "seller")
}

/// Newest first.
pub async fn notifications(limit: u32) -> Result<Vec<Notification>, ApiError> {
    field(get(&format!("/api/notifications?limit={limit}")).await?, "notifications")
}

/// Returns the `test` notification the server stored (and pushed).
pub async fn send_test() -> Result<Notification, ApiError> {
    field(post("/api/notifications/test", None).await?, "notification")
}

pub async fn stats() -> Result<Stats, ApiError> {
    get("/api/notifications/stats").await
}

/// Newest first.
pub async fn orders(limit: u32) -> Result<Vec<Order>, ApiError> {
    field(get(&format!("/api/orders?limit={limit}")).await?, "orders")
}

pub async fn mark_read(seq: i64) -> Result<Notification, ApiError> {
    field(post(&format!("/api/notifications/{seq}/read"), None).await?, "notification")
}

/// Returns how many were unread.
pub async fn read_all() -> Result<i64, ApiError> {
    field(post("/api/notifications/read-all", None).await?, "updated")
}

pub async fn shop(seller_id: i64) -> Result<Shop, ApiError> {
    field(get(&format!("/api/shops/{seller_id}")).await?, "shop")
}

pub async fn place_order(seller_id: i64, order: &NewOrderBody) -> Result<Order, ApiError> {
    let body = serde_json::to_value(order).map_err(|e| ApiError::Network(e.to_string()))?;
    field(post(&format!("/api/shops/{seller_id}/orders"), Some(body)).await?, "order")
}

async fn get<T: DeserializeOwned>(url: &str) -> Result<T, ApiError> {
    decode(transport::call("GET", url, None).await?)
}

async fn post<T: DeserializeOwned>(url: &str, body: Option<Value>) -> Result<T, ApiError> {
    decode(transport::call("POST", url, body).await?)
}

/// Most answers wrap their payload in one named field, as `{"seller": {...}}`.
fn field<T: DeserializeOwned>(mut body: Value, name: &str) -> Result<T, ApiError> {
    let value = body
        .get_mut(name)
        .map(Value::take)
        .ok_or_else(|| ApiError::Network(format!("unreadable answer: no `{name}`")))?;
    unreadable_as_network(serde_json::from_value(value))
}

fn unreadable_as_network<T>(result: Result<T, serde_json::Error>) -> Result<T, ApiError> {
    result.map_err(|e| ApiError::Network(format!("unreadable answer: {e}")))
}

/// The status and JSON body (`Null` when there is none, as for `204`).
type Answer = (u16, Value);

fn decode<T: DeserializeOwned>((status, body): Answer) -> Result<T, ApiError> {
    if (200..300).contains(&status) {
        return unreadable_as_network(serde_json::from_value(body));
    }
    let body = serde_json::from_value::<ErrorBody>(body).unwrap_or_else(|_| ErrorBody {
        error: "unexpected".into(),
        message: format!("The server answered {status}. Please try again."),
    });
    Err(ApiError::Refused { status, body })
}

#[cfg(feature = "hydrate")]
mod transport {
    use super::{Answer, ApiError};
    use gloo_net::http::RequestBuilder;
    use serde_json::Value;

    pub(super) async fn call(method: &str, url: &str, body: Option<Value>) -> Result<Answer, ApiError> {
        let network = |e: gloo_net::Error| ApiError::Network(e.to_string());
        let builder = match method {
            "POST" => RequestBuilder::new(url).method(gloo_net::http::Method::POST),
            _ => RequestBuilder::new(url),
        };
        let request = match &body {
            Some(body) => builder.json(body).map_err(network)?,
            None => builder.build().map_err(network)?,
        };
        let response = request.send().await.map_err(network)?;
        let status = response.status();
        let text = response.text().await.map_err(network)?;
        let json =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) };
        Ok((status, json))
    }
}

/// The server renders pages but never calls its own API through them.
#[cfg(not(feature = "hydrate"))]
mod transport {
    use super::{Answer, ApiError};
    use serde_json::Value;

    pub(super) async fn call(_method: &str, _url: &str, _body: Option<Value>) -> Result<Answer, ApiError> {
        Err(ApiError::Network("the API is called from the browser only".into()))
    }
}
