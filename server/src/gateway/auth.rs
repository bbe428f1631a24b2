//! The socket door of authentication: the handshake's `auth.token` (the
//! mobile app), else the dashboard's session cookie sent with the upgrade
//! request. The same credential reading and [`JwtKeys::verify`] as the HTTP
//! door (`crate::auth`), and the same `unauthorized` code.

use super::Socket;
use crate::auth::{JwtKeys, session_cookie};
use crate::domain::notification::{SellerId, Seq};
use crate::error::ApiError;
use serde::Deserialize;
use serde_json::Value;
use std::fmt;

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
#[derive(Debug, Clone, Copy)]
pub(super) struct Session {
    pub(super) seller: SellerId,
    /// `auth.last_seq`: replay everything after it right after connecting.
    pub(super) last_seq: Option<Seq>,
}

/// CONTRACT: a refused handshake's `connect_error` message is exactly
/// `unauthorized`: the HTTP API's code for the same refusal.
#[derive(Debug)]
pub(super) struct Unauthorized;

impl fmt::Display for Unauthorized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(ApiError::Unauthorized("").code())
    }
}

impl std::error::Error for Unauthorized {}

/// Connect middleware: accepts the socket only with a valid token.
pub(super) fn authenticate(
    socket: &Socket,
    keys: &JwtKeys,
    handshake: Option<Handshake>,
) -> Result<(), Unauthorized> {
    let handshake = handshake.unwrap_or_default();
    let token = match handshake.token {
        Some(Value::String(token)) => Some(token),
        _ => session_cookie(&socket.req_parts().headers),
    };
    let Some(token) = token else {
        tracing::info!(sid = %socket.id, "socket refused: no token");
        return Err(Unauthorized);
    };
    let seller = keys.verify(&token).map_err(|_| {
        tracing::info!(sid = %socket.id, "socket refused: invalid token");
        Unauthorized
    })?;
    let last_seq = handshake.last_seq.as_ref().and_then(Value::as_i64).filter(|n| *n >= 0).map(Seq);
    socket.extensions.insert(Session { seller, last_seq });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_reads_exactly_unauthorized() {
        assert_eq!(Unauthorized.to_string(), "unauthorized");
    }
}
