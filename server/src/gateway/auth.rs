//! The socket door of authentication: the handshake's `auth.token` (the
//! mobile app), else the dashboard's session cookie sent with the upgrade
//! request. Same [`JwtKeys::verify`] as the HTTP door.

use super::{GatewayState, Socket};
use crate::domain::notification::{SellerId, Seq};
use crate::http::extract::session_cookie;
use serde_json::Value;
use socketioxide::extract::{State, TryData};
use std::fmt;

/// What the handshake told us, kept in the socket's extensions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Session {
    pub(crate) seller: SellerId,
    /// `auth.last_seq`: replay everything after it right after connecting.
    pub(crate) last_seq: Option<Seq>,
}

/// CONTRACT: a refused handshake's `connect_error` message is exactly this.
#[derive(Debug)]
pub(crate) struct Unauthorized;

impl fmt::Display for Unauthorized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unauthorized")
    }
}

impl std::error::Error for Unauthorized {}

/// Connect middleware: accepts the socket only with a valid token.
pub(crate) async fn authenticate(
    socket: Socket,
    State(state): State<GatewayState>,
    TryData(auth): TryData<Value>,
) -> Result<(), Unauthorized> {
    let auth = auth.ok();
    let token = auth
        .as_ref()
        .and_then(|a| a.get("token"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| session_cookie(&socket.req_parts().headers));
    let Some(token) = token else {
        tracing::info!(sid = %socket.id, "socket refused: no token");
        return Err(Unauthorized);
    };
    let seller = state.keys.verify(&token).map_err(|_| {
        tracing::info!(sid = %socket.id, "socket refused: invalid token");
        Unauthorized
    })?;
    let last_seq =
        auth.as_ref().and_then(|a| a.get("last_seq")).and_then(Value::as_i64).filter(|n| *n >= 0).map(Seq);
    socket.extensions.insert(Session { seller, last_seq });
    Ok(())
}
