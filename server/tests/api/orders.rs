use crate::helpers::{on_both_backends, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn order_body() -> Value {
    json!({
        "customer_name": "Chloé",
        "items": [{"name": "Silk scarf", "quantity": 2, "unit_price_cents": 1500}, {"name": "Hat", "quantity": 1, "unit_price_cents": 999}],
        "note": "gift wrap"
    })
}

on_both_backends! {
    async fn a_storefront_order_is_stored_with_its_notification(app) {
        let seller = app.register("ana").await;
        let response = app.post_json(&format!("/api/shops/{}/orders", seller.id), &order_body()).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let order = response.json::<Value>().await.unwrap()["order"].clone();
        assert!(order["id"].is_i64());
        assert_eq!(order["total_cents"], 3999);
        assert_eq!(order["items"][0]["name"], "Silk scarf");

        let delta: Value = app.get_as(&seller, "/api/notifications/delta").await.json().await.unwrap();
        let n = &delta["notifications"][0];
        assert_eq!(n["type"], "order.created");
        assert_eq!(n["seq"], 1);
        assert_eq!(n["data"]["order_id"], order["id"]);

        let orders: Value = app.get_as(&seller, "/api/orders").await.json().await.unwrap();
        assert_eq!(orders["orders"][0]["id"], order["id"]);
    }

    async fn orders_are_listed_newest_first_and_only_to_their_seller(app) {
        let seller = app.register("ana").await;
        let other = app.register("bo").await;
        for _ in 0..3 {
            app.post_json(&format!("/api/shops/{}/orders", seller.id), &order_body()).await;
        }
        let orders: Value = app.get_as(&seller, "/api/orders?limit=2").await.json().await.unwrap();
        let ids: Vec<i64> = orders["orders"].as_array().unwrap().iter().map(|o| o["id"].as_i64().unwrap()).collect();
        assert_eq!(ids.len(), 2);
        assert!(ids[0] > ids[1]);
        let theirs: Value = app.get_as(&other, "/api/orders").await.json().await.unwrap();
        assert_eq!(theirs["orders"], json!([]));
    }
}

#[tokio::test]
async fn an_order_for_an_unknown_shop_is_404() {
    let app = spawn_app().await;
    for path in ["/api/shops/999999/orders", "/api/shops/abc/orders", "/api/shops/0/orders"] {
        let response = app.post_json(path, &order_body()).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn order_rules_are_422_naming_the_field() {
    let app = spawn_app().await;
    let seller = app.register("ana").await;
    let path = format!("/api/shops/{}/orders", seller.id);
    let cases = [
        (json!({"customer_name": "C", "items": []}), "items"),
        (
            json!({"customer_name": "", "items": [{"name": "a", "quantity": 1, "unit_price_cents": 1}]}),
            "customer_name",
        ),
        (
            json!({"customer_name": "C", "items": [{"name": "a", "quantity": 0, "unit_price_cents": 1}]}),
            "items[0].quantity",
        ),
        (
            json!({"customer_name": "C", "items": [{"name": "a", "quantity": 1, "unit_price_cents": -5}]}),
            "items[0].unit_price_cents",
        ),
        (
            json!({"customer_name": "C", "items": [{"name": "a", "quantity": "2", "unit_price_cents": 1}]}),
            "items[0].quantity",
        ),
    ];
    for (body, field) in cases {
        let response = app.post_json(&path, &body).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let error: Value = response.json().await.unwrap();
        assert!(error["message"].as_str().unwrap().starts_with(field), "{field}: {error}");
    }
    let stats: Value = app.get_as(&seller, "/api/notifications/stats").await.json().await.unwrap();
    assert_eq!(stats["total"], 0, "no refused order may leave a notification");
}
