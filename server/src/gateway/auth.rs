//! The socket door of authentication: the handshake's `auth.token` (the
//! mobile app), else the dashboard's session cookie sent with the upgrade
//! request. The same credential reading and [`JwtKeys::verify`] as the HTTP
//! door (`crate::auth`), and the same `unauthorized` code.
//!
//! A browser sends the cookie whichever page opens the socket, so a cookie
//! is taken only from the server's own pages or a `CORS_ORIGIN` entry: a
//! handshake whose `Origin` names another site is refused (cross-site
//! WebSocket hijacking, including from a sibling subdomain, which SameSite
//! does not stop). A token is never sent by a browser on its own, so
//! token clients (the mobile app, services, usually without `Origin`) are
//! not checked.

use super::Socket;
use super::admission::Refusal;
use crate::auth::{SessionId, session_cookie};
use crate::config::CorsOrigins;
use crate::domain::notification::{SellerId, Seq};
use crate::sessions::{Freshness, SessionError, Sessions};
use axum::http::HeaderMap;
use axum::http::header::{HOST, ORIGIN};
use serde::Deserialize;
use serde_json::Value;

/// CONTRACT: `auth: {"token", "last_seq"?}`. Read leniently: a `last_seq`
/// that is not a non-negative integer is ignored (everything pending is
/// sent instead), never a reason to refuse a valid token.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Handshake {
    #[serde(default)]
    token: Option<Value>,
    #[serde(default)]
    last_seq: Option<Value>,
}

/// What the handshake told us, kept in the socket's extensions.
#[derive(Debug, Clone)]
pub(super) struct Session {
    pub(super) seller: SellerId,
    /// The sign-in session of its token (none for a token minted without
    /// one): the socket is disconnected when it is revoked.
    pub(super) id: Option<SessionId>,
    /// `auth.last_seq`: replay everything after it right after connecting.
    pub(super) last_seq: Option<Seq>,
}

/// The session of a handshake with a valid token (a cookie only from an
/// allowed origin). CONTRACT: otherwise the `connect_error` message is
/// exactly `unauthorized` ([`Refusal::Unauthorized`]).
pub(super) async fn authenticate(
    socket: &Socket,
    sessions: &Sessions,
    cors: &CorsOrigins,
    handshake: Option<Handshake>,
) -> Result<Session, Refusal> {
    let handshake = handshake.unwrap_or_default();
    let headers = &socket.req_parts().headers;
    let token = match handshake.token {
        Some(Value::String(token)) => Some(token),
        _ => match session_cookie(headers) {
            Some(_) if !cookie_origin_allowed(headers, cors) => {
                tracing::warn!(
                    sid = %socket.id,
                    origin = ?headers.get(ORIGIN),
                    "socket refused: session cookie sent from a foreign origin"
                );
                return Err(Refusal::Unauthorized);
            }
            cookie => cookie,
        },
    };
    let Some(token) = token else {
        tracing::info!(sid = %socket.id, "socket refused: no token");
        return Err(Refusal::Unauthorized);
    };
    // Read from the store, not the cache: a revoked session never opens a socket.
    let claims = match sessions.authenticate(&token, Freshness::Fresh).await {
        Ok(claims) => claims,
        Err(SessionError::Invalid) => {
            tracing::info!(sid = %socket.id, "socket refused: invalid, expired or revoked token");
            return Err(Refusal::Unauthorized);
        }
        Err(SessionError::Store(error)) => {
            tracing::error!(sid = %socket.id, %error, "socket refused: the session could not be checked");
            return Err(Refusal::Unauthorized);
        }
    };
    let last_seq = handshake.last_seq.as_ref().and_then(Value::as_i64).filter(|n| *n >= 0).map(Seq);
    Ok(Session { seller: claims.seller, id: claims.session, last_seq })
}

/// Whether a handshake carrying the session cookie comes from the server's
/// own pages (its `Origin` names the `Host` it was sent to) or a
/// `CORS_ORIGIN` entry (`*` allows requests without credentials only, so
/// never this one). No `Origin` at all is not a browser's cross-site
/// request (browsers send it on every WebSocket and cross-origin request).
fn cookie_origin_allowed(headers: &HeaderMap, cors: &CorsOrigins) -> bool {
    let Some(origin) = headers.get(ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    let host = headers.get(HOST).and_then(|host| host.to_str().ok());
    let same_origin = origin.split_once("://").is_some_and(|(_, authority)| Some(authority) == host);
    same_origin
        || match cors {
            // `*` is for requests without credentials: never the cookie.
            CorsOrigins::None | CorsOrigins::Any => false,
            CorsOrigins::List(allowed) => allowed.iter().any(|allowed| allowed == origin),
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static(host));
        if let Some(origin) = origin {
            headers.insert(ORIGIN, HeaderValue::from_static(origin));
        }
        headers
    }

    #[test]
    fn a_cookie_is_taken_from_the_own_origin_and_listed_ones_only() {
        let listed = CorsOrigins::List(vec!["https://shop.example".to_owned()]);
        let own = headers(Some("https://notify.example"), "notify.example");
        assert!(cookie_origin_allowed(&own, &CorsOrigins::None));
        let with_port = headers(Some("http://127.0.0.1:3001"), "127.0.0.1:3001");
        assert!(cookie_origin_allowed(&with_port, &CorsOrigins::None));
        assert!(cookie_origin_allowed(&headers(None, "notify.example"), &CorsOrigins::None), "not a browser");

        let listed_site = headers(Some("https://shop.example"), "notify.example");
        assert!(cookie_origin_allowed(&listed_site, &listed));
        assert!(!cookie_origin_allowed(&listed_site, &CorsOrigins::None));
        for foreign in ["https://evil.example", "https://sub.notify.example", "null", "http://127.0.0.1:3002"]
        {
            let foreign_site = headers(Some(foreign), "notify.example");
            assert!(!cookie_origin_allowed(&foreign_site, &listed), "{foreign}");
        }
        assert!(
            !cookie_origin_allowed(&headers(Some("https://any.example"), "x"), &CorsOrigins::Any),
            "* has no credentials"
        );
    }
}
