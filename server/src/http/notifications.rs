//! CONTRACT: the `/api/notifications` rows: ingest (single and batch), test,
//! list, delta, ack, read, read-all and stats.

use super::extract::{ApiJson, AuthSeller, IngestKey, QueryParams};
use crate::delivery::AckDoor;
use crate::domain::FieldError;
use crate::domain::limit::Limit;
use crate::domain::notification::{NewNotification, Seq};
use crate::domain::sync::{AckSeqs, DeltaQuery};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::StoreError;
use app::types::{AckBody, AckResponse, DeltaPage, Notification, Stats};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

/// Most items in one batch publish.
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

type Created = (StatusCode, Json<Value>);

/// CONTRACT: `POST /api/notifications` → `201 {"notification"}`.
pub(super) async fn ingest(
    State(state): State<AppState>,
    _key: IngestKey,
    ApiJson(body): ApiJson<NotificationBody>,
) -> Result<Created, ApiError> {
    let new = body.parse()?;
    let mut stored = state.delivery.publish(vec![new]).await?;
    let (seller, notification) = stored.pop().expect("BUG: one notification in, one out");
    tracing::info!(seller_id = seller.0, seq = notification.seq, kind = %notification.kind, "notification ingested");
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
    let stored = state.delivery.publish(items).await.map_err(|e| match e {
        StoreError::UnknownSeller { index, seller_id } => {
            ApiError::NotFound(format!("notifications[{index}].seller_id: seller {seller_id} not found"))
        }
        other => other.into(),
    })?;
    tracing::info!(count = stored.len(), "notification batch ingested");
    let notifications: Vec<Notification> = stored.into_iter().map(|(_, n)| n).collect();
    Ok((StatusCode::CREATED, Json(json!({ "notifications": notifications }))))
}

/// CONTRACT: `POST /api/notifications/test` → a `test` notification for the caller.
pub(super) async fn test(
    State(state): State<AppState>,
    AuthSeller(seller): AuthSeller,
) -> Result<Created, ApiError> {
    let mut stored =
        state.delivery.publish(vec![NewNotification::test(seller)]).await.map_err(|e| match e {
            // The token outlived its seller's row: treat it like a bad token.
            StoreError::UnknownSeller { .. } => ApiError::Unauthorized("invalid or expired token"),
            other => other.into(),
        })?;
    let (_, notification) = stored.pop().expect("BUG: one notification in, one out");
    Ok((StatusCode::CREATED, Json(json!({ "notification": notification }))))
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
    let query = DeltaQuery::parse(query.int("after")?, query.int("limit")?)?;
    let page = state.database.delta(seller, query).await.map_err(not_found_is_unauthorized)?;
    Ok(Json(page))
}

/// CONTRACT: `POST /api/notifications/ack {"seqs":[…]}` → `{"acknowledged": n}`.
pub(super) async fn ack(
    State(state): State<AppState>,
    AuthSeller(seller): AuthSeller,
    ApiJson(body): ApiJson<AckBody>,
) -> Result<Json<AckResponse>, ApiError> {
    let seqs = AckSeqs::try_from(body)?;
    let acknowledged = state.delivery.acknowledge(seller, &seqs, AckDoor::Http).await?;
    tracing::info!(seller_id = seller.0, acknowledged, asked = seqs.as_slice().len(), "batch ack");
    Ok(Json(AckResponse { acknowledged }))
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
