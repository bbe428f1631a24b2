//! What a connected socket can do: receive pushes (its room), replay after
//! `last_seq`, acknowledge by seq, and sync like the delta API. Bad input
//! answers with the contract's error body in the ack, and is logged; it never
//! closes the socket or touches another seller's rows.

use super::auth::Session;
use super::{ACK, Adapter, GatewayState, SYNC, Socket, seller_room};
use crate::delivery::Delivery;
use crate::domain::FieldError;
use crate::http::notifications::{parse_delta_query, parse_seqs};
use app::types::ErrorBody;
use serde_json::{Value, json};
use socketioxide::extract::{AckSender, Event, State, TryData};
use socketioxide::socket::DisconnectReason;

pub(super) async fn on_connect(socket: Socket, delivery: Delivery) {
    let Some(session) = socket.extensions.get::<Session>() else {
        // The auth middleware always sets it; without it the socket is nobody's.
        tracing::error!(sid = %socket.id, "BUG: connected socket without a session");
        socket.disconnect().ok();
        return;
    };
    socket.join(seller_room(session.seller));
    tracing::info!(sid = %socket.id, seller_id = session.seller.0, last_seq = ?session.last_seq.map(|s| s.0), "socket connected");

    socket.on(ACK, on_ack);
    socket.on(SYNC, on_sync);
    socket.on_fallback(|socket: Socket, Event(event): Event| async move {
        tracing::warn!(sid = %socket.id, %event, "unknown socket event ignored");
    });
    socket.on_disconnect(|socket: Socket, reason: DisconnectReason| async move {
        tracing::info!(sid = %socket.id, ?reason, "socket disconnected");
    });

    // Everything after `last_seq`, and whatever is still pending, now: a
    // reconnect never waits for the next retry step.
    tokio::spawn(async move { delivery.catch_up(socket, session.seller, session.last_seq).await });
}

/// CONTRACT: `notifications:ack {"seqs": [...]}`: the same effect as the ack
/// callback. Answers `{"acknowledged": n}` when the client asked for an ack.
async fn on_ack(
    socket: Socket,
    State(state): State<GatewayState>,
    TryData(body): TryData<Value>,
    ack: AckSender<Adapter>,
) {
    let Some(session) = socket.extensions.get::<Session>() else { return };
    let seqs = match body.ok().as_ref().and_then(|b| b.get("seqs")).and_then(Value::as_array) {
        Some(values) => match values.iter().map(|v| v.as_i64().ok_or(())).collect::<Result<Vec<_>, _>>() {
            Ok(numbers) => parse_seqs(&numbers),
            Err(()) => Err(FieldError::new("seqs", "must be an array of integers")),
        },
        None => Err(FieldError::new("seqs", "is required: {\"seqs\": [..]}")),
    };
    let seqs = match seqs {
        Ok(seqs) => seqs,
        Err(error) => return refuse(&socket, ACK, ack, "validation_failed", &error.to_string()),
    };
    match state.database.acknowledge(session.seller, &seqs).await {
        Ok(acknowledged) => {
            tracing::info!(sid = %socket.id, seller_id = session.seller.0, acknowledged, asked = seqs.len(), "ack event received");
            let _ = ack.send(&json!({ "acknowledged": acknowledged }));
        }
        Err(error) => {
            tracing::error!(sid = %socket.id, %error, "ack event failed");
            answer_error(ack, "internal", "internal server error");
        }
    }
}

/// CONTRACT: `notifications:sync {"after", "limit"?}` with an ack, answered
/// like `GET /api/notifications/delta`.
async fn on_sync(
    socket: Socket,
    State(state): State<GatewayState>,
    TryData(body): TryData<Value>,
    ack: AckSender<Adapter>,
) {
    let Some(session) = socket.extensions.get::<Session>() else { return };
    let body = body.unwrap_or(Value::Null);
    let field = |name: &str| -> Result<Option<i64>, FieldError> {
        match body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| FieldError::new(name, "must be an integer")),
        }
    };
    let query = match (field("after"), field("limit")) {
        (Ok(after), Ok(limit)) => parse_delta_query(after, limit),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    let query = match query {
        Ok(query) => query,
        Err(error) => return refuse(&socket, SYNC, ack, "validation_failed", &error.to_string()),
    };
    match state.database.delta(session.seller, query).await {
        Ok(page) => {
            tracing::info!(
                sid = %socket.id,
                seller_id = session.seller.0,
                after = query.after.0,
                count = page.notifications.len(),
                "delta recovery by sync"
            );
            let _ = ack.send(&page);
        }
        Err(error) => {
            tracing::error!(sid = %socket.id, %error, "sync failed");
            answer_error(ack, "internal", "internal server error");
        }
    }
}

fn refuse(socket: &Socket, event: &str, ack: AckSender<Adapter>, code: &str, message: &str) {
    tracing::warn!(sid = %socket.id, event, code, message, "socket event refused");
    answer_error(ack, code, message);
}

/// The contract's error body, as the event's ack (a no-op when none was asked).
fn answer_error(ack: AckSender<Adapter>, code: &str, message: &str) {
    let _ = ack.send(&ErrorBody { error: code.into(), message: message.into() });
}
