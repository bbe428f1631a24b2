//! What a connected socket can do: receive pushes (its room), replay after
//! `last_seq`, acknowledge by seq, and sync like the delta API. The rules are
//! the HTTP API's (`domain::sync`), and so are the error codes: bad input is
//! answered with the contract's error body in the ack, and logged; it never
//! closes the socket or touches another seller's rows. Each socket's events
//! are counted against its budget ([`EventBudget`]) before anything else.

use super::auth::Session;
use super::limits::{ACK_SEQS_PER_EVENT, EventBudget};
use super::{Adapter, GatewayState, Socket, seller_room, session_room};
use crate::delivery::AckDoor;
use crate::delivery::fanout::SocketId;
use crate::domain::FieldError;
use crate::domain::sync::{AckSeqs, DeltaQuery};
use crate::error::ApiError;
use crate::store::StoreError;
use app::types::events::{ACK, SYNC};
use app::types::{AckBody, AckResponse, SyncBody};
use socketioxide::ParserError;
use socketioxide::extract::{AckSender, Event, TryData};
use socketioxide::socket::DisconnectReason;
use std::sync::Arc;
use std::time::Duration;

pub(super) fn on_connect(socket: Socket, state: Arc<GatewayState>) {
    let Some(session) = socket.extensions.get::<Session>() else {
        // The auth middleware always sets it; without it the socket is nobody's.
        tracing::error!(sid = %socket.id, "BUG: connected socket without a session");
        socket.disconnect().ok();
        return;
    };
    let socket_id = SocketId(socket.id.to_string());
    // Forgotten when it goes: the handler is there before it is tracked,
    // and a socket gone meanwhile (a client that dropped at once, a
    // revocation) is forgotten here.
    let disconnect_state = Arc::clone(&state);
    socket.on_disconnect(move |socket: Socket, reason: DisconnectReason| async move {
        disconnect_state.delivery.socket_disconnected(&SocketId(socket.id.to_string()));
        tracing::info!(sid = %socket.id, ?reason, "socket disconnected");
    });
    // Tracked before it joins the room, so every push that reaches it counts.
    state.delivery.socket_connected(socket_id.clone(), session.seller, session.last_seq);
    if !socket.connected() {
        state.delivery.socket_disconnected(&socket_id);
        return;
    }
    socket.join(seller_room(session.seller));
    if let Some(id) = &session.id {
        socket.join(session_room(id));
    }
    tracing::info!(sid = %socket.id, seller_id = session.seller.0, last_seq = ?session.last_seq.map(|s| s.0), "socket connected");

    let budget = EventBudget::new(state.limits.events_per_sec);
    // Acks are counted in seqs, in a budget of their own (`limits`).
    let ack_budget = EventBudget::new(state.limits.events_per_sec.saturating_mul(ACK_SEQS_PER_EVENT));
    let ack_state = Arc::clone(&state);
    socket.on(ACK, move |socket: Socket, TryData(body): TryData<AckBody>, ack: AckSender<Adapter>| {
        let (state, budget) = (Arc::clone(&ack_state), ack_budget.clone());
        async move {
            let seqs = body.as_ref().map_or(1, |body| body.seqs.len().max(1));
            match budget.take_many(seqs) {
                Ok(()) => on_ack(&socket, &state, body, ack).await,
                Err(retry_after) => over_budget(&socket, &state, ACK, Some(ack), retry_after),
            }
        }
    });
    let (sync_state, sync_budget) = (Arc::clone(&state), budget.clone());
    socket.on(SYNC, move |socket: Socket, TryData(body): TryData<SyncBody>, ack: AckSender<Adapter>| {
        let (state, budget) = (Arc::clone(&sync_state), sync_budget.clone());
        async move {
            match budget.take() {
                Ok(()) => on_sync(&socket, &state, body, ack).await,
                Err(retry_after) => over_budget(&socket, &state, SYNC, Some(ack), retry_after),
            }
        }
    });
    let fallback_state = Arc::clone(&state);
    socket.on_fallback(move |socket: Socket, Event(event): Event| {
        let (state, budget) = (Arc::clone(&fallback_state), budget.clone());
        async move {
            match budget.take() {
                Ok(()) => tracing::warn!(sid = %socket.id, %event, "unknown socket event ignored"),
                Err(retry_after) => over_budget(&socket, &state, &event, None, retry_after),
            }
        }
    });
    // Everything after `last_seq`, and whatever is still pending, now: a
    // reconnect never waits for the next retry step.
    tokio::spawn(async move {
        state.delivery.catch_up(socket_id, session.seller, session.last_seq).await;
    });
}

/// CONTRACT: `notifications:ack {"seqs": [...]}`: the same effect as the ack
/// callback. Answers `{"acknowledged": n}` when the client asked for an ack.
async fn on_ack(
    socket: &Socket,
    state: &GatewayState,
    body: Result<AckBody, ParserError>,
    ack: AckSender<Adapter>,
) {
    let Some(session) = socket.extensions.get::<Session>() else { return };
    let seqs = match body.map_err(|error| body_error("seqs", "{\"seqs\": [1, 2, …]}", &error)) {
        Ok(body) => AckSeqs::try_from(body),
        Err(error) => Err(error),
    };
    let seqs = match seqs {
        Ok(seqs) => seqs,
        Err(error) => return refuse(socket, ACK, ack, &ApiError::Validation(error)),
    };
    match state.delivery.acknowledge(session.seller, &seqs, AckDoor::Event).await {
        Ok(acknowledged) => {
            tracing::info!(sid = %socket.id, seller_id = session.seller.0, acknowledged, asked = seqs.as_slice().len(), "ack event received");
            let _ = ack.send(&AckResponse { acknowledged });
        }
        Err(error) => failed(socket, ACK, ack, error),
    }
}

/// CONTRACT: `notifications:sync {"after", "limit"?}` with an ack, answered
/// like `GET /api/notifications/delta`.
async fn on_sync(
    socket: &Socket,
    state: &GatewayState,
    body: Result<SyncBody, ParserError>,
    ack: AckSender<Adapter>,
) {
    let Some(session) = socket.extensions.get::<Session>() else { return };
    let query = match body.map_err(|error| body_error("body", "{\"after\": n, \"limit\"?: n}", &error)) {
        Ok(body) => DeltaQuery::try_from(body),
        Err(error) => Err(error),
    };
    let query = match query {
        Ok(query) => query,
        Err(error) => return refuse(socket, SYNC, ack, &ApiError::Validation(error)),
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
        Err(error) => failed(socket, SYNC, ack, error),
    }
}

/// An event over its socket's budget: answered `rate_limited` (when it asked
/// for an ack), counted, and logged once per thousand so a flood does not
/// become a flood of log lines.
fn over_budget(
    socket: &Socket,
    state: &GatewayState,
    event: &str,
    ack: Option<AckSender<Adapter>>,
    retry_after: Duration,
) {
    let before = state.refused_events.add();
    if before.is_multiple_of(1000) {
        tracing::warn!(sid = %socket.id, event, refused_so_far = before + 1, "socket events over budget refused");
    }
    if let Some(ack) = ack {
        answer_error(ack, &ApiError::RateLimited { retry_after });
    }
}

/// A payload that does not decode as the event's body: the field serde
/// names, else `field`, with the shape expected.
fn body_error(field: &str, shape: &str, error: &ParserError) -> FieldError {
    let detail = error.to_string();
    let named = detail.split('`').nth(1).filter(|_| detail.contains("field `"));
    FieldError::new(named.unwrap_or(field), format!("expected {shape} ({detail})"))
}

fn refuse(socket: &Socket, event: &str, ack: AckSender<Adapter>, error: &ApiError) {
    tracing::warn!(sid = %socket.id, event, code = error.code(), %error, "socket event refused");
    answer_error(ack, error);
}

fn failed(socket: &Socket, event: &str, ack: AckSender<Adapter>, error: StoreError) {
    tracing::error!(sid = %socket.id, event, %error, "socket event failed");
    answer_error(ack, &ApiError::from(error));
}

/// The contract's error body, as the event's ack (a no-op when none was asked).
fn answer_error(ack: AckSender<Adapter>, error: &ApiError) {
    let _ = ack.send(&error.body());
}
