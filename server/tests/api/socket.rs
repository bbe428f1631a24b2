//! The Socket.IO gateway through `rust_socketio`, a real client. It cannot
//! answer a server event's ack, so it acknowledges with `notifications:ack`
//! (CONTRACT); the official JavaScript client's ack callback is covered by
//! `socket_contract.rs`.

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::socket_client::{WAIT, connect, connect_as, wait_for_stats};
use futures_util::FutureExt;
use rust_socketio::asynchronous::{Client, ClientBuilder};
use rust_socketio::{Event, Payload};
use serde_json::{Value, json};
use server::config::CorsOrigins;
use std::time::Duration;
use tokio::sync::mpsc::unbounded_channel;
use tokio::time::Instant;

/// Opens a socket with `auth` and extra handshake `headers`: the client
/// once the namespace accepted it, or the server's refusal.
pub(crate) async fn handshake(
    app: &TestApp,
    auth: Value,
    headers: &[(&str, String)],
) -> Result<Client, String> {
    let (answers_tx, mut answers) = unbounded_channel();
    let refused_tx = answers_tx.clone();
    let mut builder = ClientBuilder::new(app.url("/"))
        .auth(auth)
        .reconnect(false)
        .on(Event::Connect, move |_: Payload, _| {
            let tx = answers_tx.clone();
            async move {
                let _ = tx.send(Ok(()));
            }
            .boxed()
        })
        .on(Event::Error, move |payload: Payload, _| {
            let tx = refused_tx.clone();
            async move {
                let _ = tx.send(Err(format!("{payload:?}")));
            }
            .boxed()
        });
    for (name, value) in headers {
        builder = builder.opening_header(*name, value.as_str());
    }
    let client = builder.connect().await.expect("the transport must open");
    let answer =
        tokio::time::timeout(WAIT, answers.recv()).await.expect("no answer to the handshake").unwrap();
    answer.map(|()| client)
}

#[tokio::test]
async fn a_bad_or_missing_token_is_refused_as_unauthorized() {
    let app = spawn_app().await;
    for auth in [json!({"token": "not.a.token"}), json!({}), json!({"token": 42})] {
        let error = handshake(&app, auth.clone(), &[]).await.err().expect("refused");
        assert!(error.contains("unauthorized"), "{auth}: {error}");
    }
}

#[tokio::test]
async fn the_session_cookie_opens_a_socket_only_from_the_own_or_a_listed_origin() {
    let app = spawn_app_with(|config| {
        config.security.cors = CorsOrigins::List(vec!["https://shop.example".to_owned()]);
    })
    .await;
    let seller = app.register("ana").await;
    let cookie = ("Cookie", format!("liveshop_session={}", seller.token));
    let own = app.url("").trim_end_matches('/').to_owned();
    for origin in [Some(own.as_str()), Some("https://shop.example"), None] {
        let mut headers = vec![cookie.clone()];
        headers.extend(origin.map(|origin| ("Origin", origin.to_owned())));
        let answer = handshake(&app, json!({}), &headers).await;
        assert!(answer.is_ok(), "{origin:?}: {:?}", answer.err());
    }
    for foreign in ["https://evil.example", "null", "http://127.0.0.1:1"] {
        let headers = [cookie.clone(), ("Origin", foreign.to_owned())];
        let error = handshake(&app, json!({}), &headers).await.err().expect("refused");
        assert!(error.contains("unauthorized"), "{foreign}: {error}");
    }
    // A token is not sent by a browser on its own: no origin is asked of it.
    let headers = [("Origin", "https://evil.example".to_owned())];
    assert!(handshake(&app, json!({"token": seller.token}), &headers).await.is_ok());
}

#[tokio::test]
async fn a_pushed_notification_acknowledged_by_event_is_received() {
    let app = spawn_app().await;
    let seller = app.register("ana").await;
    let mut socket = connect_as(&app, &seller).await;

    let published = app.publish(&seller, "New order").await;
    let pushed = socket.next_notification().await;
    assert_eq!(pushed, published, "the push carries the stored notification");

    let answer = socket.emit_with_ack("notifications:ack", json!({"seqs": [pushed["seq"]]})).await;
    assert_eq!(answer, json!({"acknowledged": 1}));
    let stats = wait_for_stats(&app, &seller, |s| s["received"] == 1).await;
    assert_eq!(stats["sent"], 1);
    assert_eq!(stats["pending"], 0);
}

#[tokio::test]
async fn every_socket_of_a_seller_receives_and_other_sellers_nothing() {
    let app = spawn_app().await;
    let ana = app.register("ana").await;
    let bo = app.register("bo").await;
    let mut first = connect_as(&app, &ana).await;
    let mut second = connect_as(&app, &ana).await;
    let mut other = connect_as(&app, &bo).await;

    app.publish(&ana, "for ana").await;
    assert_eq!(first.next_notification().await["title"], "for ana");
    assert_eq!(second.next_notification().await["title"], "for ana");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(other.notifications.try_recv().is_err(), "another seller got ana's notification");

    // A storefront order reaches the seller too, as order.created.
    let order =
        json!({"customer_name": "C", "items": [{"name": "Hat", "quantity": 1, "unit_price_cents": 500}]});
    app.post_json(&format!("/api/shops/{}/orders", ana.id), &order).await;
    assert_eq!(first.next_notification().await["type"], "order.created");
}

#[tokio::test]
async fn handshake_last_seq_replays_everything_after_it_in_order() {
    let app = spawn_app().await;
    let seller = app.register("ana").await;
    for i in 1..=5 {
        app.publish(&seller, &format!("n{i}")).await;
    }
    let mut socket = connect(&app, json!({"token": seller.token, "last_seq": 2})).await;
    let mut seqs = Vec::new();
    for _ in 0..3 {
        seqs.push(socket.next_notification().await["seq"].as_i64().unwrap());
    }
    assert_eq!(seqs, [3, 4, 5]);
    let stats = wait_for_stats(&app, &seller, |s| s["sent"] == 3).await;
    assert_eq!(stats["received"], 0, "replay does not count as received until acked");
}

#[tokio::test]
async fn sync_answers_like_the_delta_api() {
    let app = spawn_app().await;
    let seller = app.register("ana").await;
    for i in 1..=4 {
        app.publish(&seller, &format!("n{i}")).await;
    }
    let socket = connect_as(&app, &seller).await;
    let page = socket.emit_with_ack("notifications:sync", json!({"after": 1, "limit": 2})).await;
    let http: Value =
        app.get_as(&seller, "/api/notifications/delta?after=1&limit=2").await.json().await.unwrap();
    assert_eq!(page["last_seq"], 4);
    assert_eq!(page["has_more"], true);
    let seqs: Vec<i64> =
        page["notifications"].as_array().unwrap().iter().map(|n| n["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [2, 3]);
    // Same rows as HTTP, apart from sent/received times that moved meanwhile.
    assert_eq!(page["notifications"][0]["id"], http["notifications"][0]["id"]);
}

#[tokio::test]
async fn bad_socket_input_gets_an_error_and_changes_nothing() {
    let app = spawn_app().await;
    let owner = app.register("owner").await;
    let intruder = app.register("intruder").await;
    app.publish(&owner, "private").await;
    let socket = connect_as(&app, &intruder).await;

    let answer = socket.emit_with_ack("notifications:sync", json!({"after": "x"})).await;
    assert_eq!(answer["error"], "validation_failed", "{answer}");
    let answer = socket.emit_with_ack("notifications:ack", json!({"seqs": "1"})).await;
    assert_eq!(answer["error"], "validation_failed", "{answer}");
    let answer = socket.emit_with_ack("notifications:ack", json!({"seqs": [1]})).await;
    assert_eq!(answer, json!({"acknowledged": 0}), "another seller's seq");
    socket.client.emit("no-such-event", json!({"x": 1})).await.unwrap();
    let answer = socket.emit_with_ack("notifications:sync", json!({})).await;
    assert_eq!(answer["notifications"], json!([]), "still connected and still scoped to its seller");

    let stats: Value = app.get_as(&owner, "/api/notifications/stats").await.json().await.unwrap();
    assert_eq!(stats["received"], 0);
}

#[tokio::test]
async fn engineio_open_packet_carries_the_configured_heartbeat() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.socket.ping_interval = Duration::from_millis(1234);
        config.socket.ping_timeout = Duration::from_millis(567);
    })
    .await;

    // The polling transport's first answer is the Engine.IO open packet.
    let response = app.get("/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let json = text.strip_prefix('0').expect("an open packet starts with 0");
    let open: Value = serde_json::from_str(json).unwrap();
    assert_eq!(open["pingInterval"], 1234);
    assert_eq!(open["pingTimeout"], 567);
    assert!(open["sid"].is_string());
}

#[tokio::test]
async fn a_huge_payload_drops_only_its_own_socket() {
    let app = spawn_app().await;
    let seller = app.register("ana").await;
    let abuser = connect_as(&app, &seller).await;
    let mut bystander = connect_as(&app, &seller).await;
    assert_eq!(app.metric("liveshop_socketio_connected_sockets").await, 2.0);

    // Far above the 256 KiB the gateway accepts.
    let huge = json!({"seqs": [1], "padding": "x".repeat(1024 * 1024)});
    let _ = abuser.client.emit("notifications:ack", huge).await;

    // The abuser is dropped...
    app.wait_for_sockets(1.0).await;
    // ...and the server still serves the other socket, and HTTP.
    let published = app.publish(&seller, "after the abuse").await;
    assert_eq!(bystander.next_notification().await["seq"], published["seq"]);
    assert_eq!(app.get("/api/health").await.status(), 200);
}

#[tokio::test]
async fn events_over_a_sockets_budget_are_answered_rate_limited_and_not_handled() {
    // 5 a second, a burst of 10.
    let app = spawn_app_with(|config| config.socket.events_per_sec = 5).await;
    let ana = app.register("ana").await;
    let socket = connect_as(&app, &ana).await;
    let mut answers = Vec::new();
    for _ in 0..15 {
        answers.push(socket.emit_with_ack("notifications:sync", json!({"after": 0})).await);
    }
    let refused = answers.iter().filter(|a| a["error"] == "rate_limited").count();
    let served = answers.iter().filter(|a| a.get("notifications").is_some()).count();
    assert_eq!(served + refused, 15, "{answers:?}");
    assert!((10..=11).contains(&served), "the burst, and what refilled meanwhile: {answers:?}");
    assert!(app.metric("liveshop_socket_events_refused_total").await >= 4.0);

    // Another socket has a budget of its own, and the refused one stays up.
    let bea = app.register("bea").await;
    let other = connect_as(&app, &bea).await;
    assert!(
        other.emit_with_ack("notifications:sync", json!({"after": 0})).await.get("notifications").is_some()
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        socket.emit_with_ack("notifications:sync", json!({"after": 0})).await.get("notifications").is_some()
    );
}

#[tokio::test]
async fn a_flooding_socket_does_not_hold_back_another_sellers_delivery() {
    const FLOOD: usize = 5_000;
    // Measured on the 2-core dev machine (debug build): the slowest of 20
    // deliveries took 105–129 ms during the flood with the default budget,
    // and 1.44–1.53 s with the budget off (`SOCKET_EVENTS_PER_SEC=0`).
    const BOUND: Duration = Duration::from_millis(500);
    let app = spawn_app().await;
    let (flooder, seller) = (app.register("flooder").await, app.register("seller").await);
    let flood_socket = connect_as(&app, &flooder).await;
    let mut seller_socket = connect_as(&app, &seller).await;

    let flood = tokio::spawn(async move {
        for _ in 0..FLOOD {
            flood_socket.client.emit("notifications:sync", json!({"after": 0})).await.expect("emit");
        }
        flood_socket
    });
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let sent = Instant::now();
        app.publish(&seller, &format!("order {i}")).await;
        let (arrived, _) = seller_socket.next_within(WAIT).await.expect("delivery stalled during the flood");
        slowest = slowest.max(arrived - sent);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _flood_socket = flood.await.unwrap();
    println!("slowest publish → receive during a flood of {FLOOD} events: {slowest:?}");
    assert!(slowest < BOUND, "{slowest:?}");
    let refused = app.metric("liveshop_socket_events_refused_total").await;
    assert!(refused > 0.0, "the flood outran the default budget");
}

#[tokio::test]
async fn acks_by_event_have_a_budget_counted_in_seqs() {
    // 1 event a second: 100 acknowledged seqs a second, a burst of 200.
    let app = spawn_app_with(|config| config.socket.events_per_sec = 1).await;
    let ana = app.register("ana").await;
    let socket = connect_as(&app, &ana).await;
    let hundred: Vec<i64> = (1..=100).collect();
    for _ in 0..2 {
        let answer = socket.emit_with_ack("notifications:ack", json!({"seqs": hundred})).await;
        assert_eq!(answer, json!({"acknowledged": 0}), "within the burst (no such seqs yet)");
    }
    let answer = socket.emit_with_ack("notifications:ack", json!({"seqs": hundred})).await;
    assert_eq!(answer["error"], "rate_limited", "{answer}");
    assert!(app.metric("liveshop_socket_events_refused_total").await >= 1.0);
}
