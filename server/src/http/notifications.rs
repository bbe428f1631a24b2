//! CONTRACT: the `/api/notifications` rows: ingest (single and batch), test,
//! list, delta, ack, read, read-all and stats.

use super::extract::{ApiJson, AuthSeller, IngestKey, QueryParams};
use crate::domain::FieldError;
use crate::domain::limit::Limit;
use crate::domain::notification::{NewNotification, NotificationType, SellerId, Seq};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{DeltaQuery, StoreError};
use app::types::{DeltaPage, Notification, Stats};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Most items in one batch publish, and most seqs in one ack.
pub const BATCH_MAX: usize = 500;

#[derive(Debug, Deserialize)]
pub(super) struct NotificationBody {
    seller_id: i64,
    #[serde(rename = "type")]
    kind: String,
    title: String,
    body: String,
    #[serde(default)]
    data: Option<Value>,
}

impl NotificationBody {
    fn parse(self) -> Result<NewNotification, FieldError> {
        NewNotification::parse(self.seller_id, &self.kind, &self.title, &self.body, self.data)
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct BatchBody {
    notifications: Vec<NotificationBody>,
}

#[derive(Debug, Deserialize)]
pub(super) struct AckBody {
    seqs: Vec<i64>,
}

type Created = (StatusCode, Json<Value>);

/// CONTRACT: `POST /api/notifications` → `201 {"notification"}`.
pub(super) async fn ingest(
    State(state): State<AppState>,
    _key: IngestKey,
    ApiJson(body): ApiJson<NotificationBody>,
) -> Result<Created, ApiError> {
    let new = body.parse()?;
    let mut stored = state.writer.publish(vec![new]).await?;
    let (seller, notification) = stored.pop().expect("BUG: one notification in, one out");
    tracing::info!(seller_id = seller.0, seq = notification.seq, kind = %notification.kind, "notification ingested");
    state.delivery.push(seller, vec![notification.clone()]);
    Ok((StatusCode::CREATED, Json(json!({ "notification": notification }))))
}

/// CONTRACT: `POST /api/notifications/batch`: 1 to 500 items, any sellers,
/// stored all or none; `201 {"notifications":[…]}` in request order.
pub(super) async fn ingest_batch(
    State(state): State<AppState>,
    _key: IngestKey,
    ApiJson(body): ApiJson<BatchBody>,
) -> Result<Created, ApiError> {
    let count = body.notifications.len();
    if count == 0 || count > BATCH_MAX {
        return Err(FieldError::new(
            "notifications",
            format!("must hold 1 to {BATCH_MAX} items (got {count})"),
        )
        .into());
    }
    let items = body
        .notifications
        .into_iter()
        .enumerate()
        .map(|(i, item)| item.parse().map_err(|e| e.within(&format!("notifications[{i}]"))))
        .collect::<Result<Vec<_>, _>>()?;
    let stored = state.writer.publish(items).await.map_err(|e| match e {
        StoreError::UnknownSeller { index, seller_id } => {
            ApiError::NotFound(format!("notifications[{index}].seller_id: seller {seller_id} not found"))
        }
        other => other.into(),
    })?;
    tracing::info!(count = stored.len(), "notification batch ingested");
    push_by_seller(&state, &stored);
    let notifications: Vec<Notification> = stored.into_iter().map(|(_, n)| n).collect();
    Ok((StatusCode::CREATED, Json(json!({ "notifications": notifications }))))
}

/// CONTRACT: `POST /api/notifications/test` → a `test` notification for the caller.
pub(super) async fn test(
    State(state): State<AppState>,
    AuthSeller(seller): AuthSeller,
) -> Result<Created, ApiError> {
    let new = NewNotification {
        seller_id: seller,
        kind: NotificationType::parse("test").expect("BUG: a valid type name"),
        title: "Test notification".into(),
        body: "If you can read this, live notifications reach you.".into(),
        data: Map::new(),
    };
    let mut stored = state.writer.publish(vec![new]).await.map_err(|e| match e {
        // The token outlived its seller's row: treat it like a bad token.
        StoreError::UnknownSeller { .. } => ApiError::Unauthorized("invalid or expired token"),
        other => other.into(),
    })?;
    let (_, notification) = stored.pop().expect("BUG: one notification in, one out");
    state.delivery.push(seller, vec![notification.clone()]);
    Ok((StatusCode::CREATED, Json(json!({ "notification": notification }))))
}

/// One push per seller, each in seq order.
fn push_by_seller(state: &AppState, stored: &[(SellerId, Notification)]) {
    let mut by_seller: BTreeMap<SellerId, Vec<Notification>> = BTreeMap::new();
    for (seller, notification) in stored {
        by_seller.entry(*seller).or_default().push(notification.clone());
    }
    for (seller, notifications) in by_seller {
        state.delivery.push(seller, notifications);
    }
}

/// CONTRACT: `GET /api/notifications?limit&before` → newest first.
pub(super) async fn list(
    State(state): State<AppState>,
    AuthSeller(seller): AuthSeller,
    query: QueryParams,
) -> Result<Json<Value>, ApiError> {
    let limit = Limit::parse(query.int("limit")?, 50)?;
    let before = query.int("before")?.map(Seq);
    let notifications = state.database.list_notifications(seller, before, limit).await?;
    Ok(Json(json!({ "notifications": notifications })))
}

/// CONTRACT: `GET /api/notifications/delta?after&limit`.
pub(super) async fn delta(
    State(state): State<AppState>,
    AuthSeller(seller): AuthSeller,
    query: QueryParams,
) -> Result<Json<DeltaPage>, ApiError> {
    let query = parse_delta_query(query.int("after")?, query.int("limit")?)?;
    let page = state.database.delta(seller, query).await.map_err(not_found_is_unauthorized)?;
    Ok(Json(page))
}

/// `after` (default 0, never negative) and `limit` (default 100, ≤ 500).
/// Shared by the delta route and the socket's `notifications:sync`.
///
/// # Errors
/// A negative `after` or a `limit` below 1.
pub fn parse_delta_query(after: Option<i64>, limit: Option<i64>) -> Result<DeltaQuery, FieldError> {
    let after = after.unwrap_or(0);
    if after < 0 {
        return Err(FieldError::new("after", "must be 0 or more"));
    }
    Ok(DeltaQuery { after: Seq(after), limit: Limit::parse(limit, 100)? })
}

/// CONTRACT: `POST /api/notifications/ack {"seqs":[…]}` → `{"acknowledged": n}`.
pub(super) async fn ack(
    State(state): State<AppState>,
    AuthSeller(seller): AuthSeller,
    ApiJson(body): ApiJson<AckBody>,
) -> Result<Json<Value>, ApiError> {
    let seqs = parse_seqs(&body.seqs)?;
    let acknowledged = state.database.acknowledge(seller, &seqs).await?;
    tracing::info!(seller_id = seller.0, acknowledged, asked = seqs.len(), "batch ack");
    Ok(Json(json!({ "acknowledged": acknowledged })))
}

/// Up to [`BATCH_MAX`] positive seqs.
///
/// # Errors
/// Too many seqs, or one below 1.
pub fn parse_seqs(seqs: &[i64]) -> Result<Vec<Seq>, FieldError> {
    if seqs.len() > BATCH_MAX {
        return Err(FieldError::new("seqs", format!("must hold at most {BATCH_MAX} seqs")));
    }
    seqs.iter()
        .enumerate()
        .map(|(i, &seq)| {
            if seq >= 1 {
                Ok(Seq(seq))
            } else {
                Err(FieldError::new(format!("seqs[{i}]"), "must be 1 or more"))
            }
        })
        .collect()
}

/// CONTRACT: `POST /api/notifications/{seq}/read` → `{"notification"}`.
pub(super) async fn read(
    State(state): State<AppState>,
    AuthSeller(seller): AuthSeller,
    Path(seq): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let seq = match seq.parse::<i64>() {
        Ok(n) if n >= 1 => Seq(n),
        _ => return Err(ApiError::not_found("notification")),
    };
    let notification = state.database.mark_read(seller, seq).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("notification"),
        other => other.into(),
    })?;
    Ok(Json(json!({ "notification": notification })))
}

/// CONTRACT: `POST /api/notifications/read-all` → `{"updated": n}`.
pub(super) async fn read_all(
    State(state): State<AppState>,
    AuthSeller(seller): AuthSeller,
) -> Result<Json<Value>, ApiError> {
    let updated = state.database.mark_all_read(seller).await?;
    Ok(Json(json!({ "updated": updated })))
}

/// CONTRACT: `GET /api/notifications/stats`.
pub(super) async fn stats(
    State(state): State<AppState>,
    AuthSeller(seller): AuthSeller,
) -> Result<Json<Stats>, ApiError> {
    let stats = state.database.stats(seller).await.map_err(not_found_is_unauthorized)?;
    Ok(Json(stats))
}

/// A valid token whose seller no longer exists is as good as a bad token.
fn not_found_is_unauthorized(error: StoreError) -> ApiError {
    match error {
        StoreError::NotFound => ApiError::Unauthorized("invalid or expired token"),
        other => other.into(),
    }
}
