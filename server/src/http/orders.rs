//! CONTRACT: `POST /api/shops/{seller_id}/orders` (a customer's storefront)
//! and `GET /api/orders` (the seller's list); plus `GET /api/shops/{seller_id}`,
//! the storefront's name, public like its order form.

use super::extract::{ApiJson, AuthSeller, QueryParams};
use crate::domain::limit::Limit;
use crate::domain::notification::SellerId;
use crate::domain::order::{NewOrder, OrderItem};
use crate::error::ApiError;
use crate::state::AppState;
use app::types::Shop;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
pub(super) struct OrderBody {
    customer_name: String,
    items: Vec<OrderItem>,
    #[serde(default)]
    note: Option<String>,
}

/// CONTRACT: `201 {"order"}`, and the seller gets an `order.created`
/// notification, stored in the same transaction as the order.
pub(super) async fn place(
    State(state): State<AppState>,
    Path(seller_id): Path<String>,
    ApiJson(body): ApiJson<OrderBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let seller = parse_seller_id(&seller_id)?;
    let order = NewOrder::parse(&body.customer_name, &body.items, body.note.as_deref())?;
    let (order, notification) = state.delivery.publish_order(seller, order).await.map_err(|e| match e {
        crate::store::StoreError::UnknownSeller { .. } => ApiError::not_found("shop"),
        other => other.into(),
    })?;
    tracing::info!(seller_id = seller.0, order_id = order.id, seq = notification.seq, "order placed");
    Ok((StatusCode::CREATED, Json(json!({ "order": order }))))
}

/// `200 {"shop": {"id", "shop_name"}}`; `404` for an unknown shop. Never the
/// seller's email: the storefront is public.
pub(super) async fn shop(
    State(state): State<AppState>,
    Path(seller_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let seller = parse_seller_id(&seller_id)?;
    let seller = state.database.seller(seller).await.map_err(|e| match e {
        crate::store::StoreError::NotFound => ApiError::not_found("shop"),
        other => other.into(),
    })?;
    Ok(Json(json!({ "shop": Shop { id: seller.id, shop_name: seller.shop_name } })))
}

/// CONTRACT: `200 {"orders":[…]}` newest first.
pub(super) async fn list(
    State(state): State<AppState>,
    AuthSeller(seller): AuthSeller,
    query: QueryParams,
) -> Result<Json<Value>, ApiError> {
    let limit = Limit::parse(query.int("limit")?, 50)?;
    let orders = state.database.list_orders(seller, limit).await?;
    Ok(Json(json!({ "orders": orders })))
}

/// A path id that is not a positive integer names no shop: 404.
fn parse_seller_id(text: &str) -> Result<SellerId, ApiError> {
    match text.parse::<i64>() {
        Ok(id) if id > 0 => Ok(SellerId(id)),
        _ => Err(ApiError::not_found("shop")),
    }
}
