//! The persistent retry queue, seen from outside: a notification nobody
//! acknowledges is pushed again with exponential backoff, then marked failed
//! after `RETRY_ATTEMPTS` pushes; a late ack still records it; a reconnecting
//! seller gets what is pending at once. Both backends.

use crate::helpers::{Backend, TestApp, spawn_app_on};
use crate::socket_client::{connect_as, wait_for_stats, wait_for_stats_within};
use serde_json::json;
use server::config::RetryPolicy;
use server::queue::RetryQueue;
use std::time::Duration;

const ACK_TIMEOUT: Duration = Duration::from_millis(300);

async fn app_with_retries(backend: Backend, base: Duration) -> TestApp {
    spawn_app_on(backend, |config| {
        config.delivery.ack_timeout = ACK_TIMEOUT;
        config.delivery.retry = RetryPolicy { attempts: 3, base };
    })
    .await
}

async fn unacknowledged_pushes_back_off_then_fail(backend: Backend) {
    let base = Duration::from_secs(1);
    let app = app_with_retries(backend, base).await;
    let seller = app.register("ana").await;
    let mut socket = connect_as(&app, &seller).await;

    let published = app.publish(&seller, "never acked").await;
    let mut arrivals = Vec::new();
    while let Some((at, pushed)) = socket.next_within(Duration::from_secs(8)).await {
        assert_eq!(pushed["seq"], published["seq"]);
        arrivals.push(at);
        if arrivals.len() == 3 {
            break;
        }
    }
    assert_eq!(arrivals.len(), 3, "RETRY_ATTEMPTS pushes in all");
    // Attempt n+1 comes after the ack window and at least base × 2^(n-1).
    let gaps: Vec<Duration> = arrivals.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps[0] >= ACK_TIMEOUT + base, "first retry too early: {gaps:?}");
    assert!(gaps[1] >= ACK_TIMEOUT + base * 2, "second retry too early: {gaps:?}");

    let stats = wait_for_stats_within(&app, &seller, Duration::from_secs(5), |s| s["failed"] == 1).await;
    assert_eq!(stats["pending"], 0, "{stats}");
    assert_eq!(stats["received"], 0, "{stats}");
    assert!(socket.next_within(Duration::from_millis(1500)).await.is_none(), "no push after failing");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("liveshop_notifications_failed_total 1"), "{metrics}");

    // A late ack still records it: failed no more, received.
    let answer = socket.emit_with_ack("notifications:ack", json!({"seqs": [published["seq"]]})).await;
    assert_eq!(answer, json!({"acknowledged": 1}));
    let stats = wait_for_stats(&app, &seller, |s| s["received"] == 1).await;
    assert_eq!(stats["failed"], 0, "{stats}");

    // The finished jobs (attempts 2 and 3, and the failure check) can be pruned.
    let queue = RetryQueue::open(&app.database).await.unwrap();
    let pruned = queue.prune(Duration::ZERO).await.unwrap();
    assert!(pruned >= 3, "pruned {pruned} finished jobs");
}

async fn a_seller_without_a_socket_fails_after_the_attempts(backend: Backend) {
    let app = app_with_retries(backend, Duration::from_secs(1)).await;
    let seller = app.register("offline").await;
    app.publish(&seller, "nobody listening").await;
    let stats = wait_for_stats_within(&app, &seller, Duration::from_secs(15), |s| s["failed"] == 1).await;
    assert_eq!(stats["sent"], 0, "never emitted: {stats}");
    assert_eq!(stats["pending"], 0, "{stats}");
}

async fn a_reconnecting_seller_gets_pending_notifications_at_once(backend: Backend) {
    // A long backoff: the retry cannot be what delivers within the test.
    let app = app_with_retries(backend, Duration::from_secs(30)).await;
    let seller = app.register("flaky").await;
    let mut first = connect_as(&app, &seller).await;
    let published = app.publish(&seller, "while flaky").await;
    assert_eq!(first.next_notification().await["seq"], published["seq"]);
    first.client.disconnect().await.unwrap();

    // Reconnects without last_seq, as the mobile app does: pending comes at once.
    let mut second = connect_as(&app, &seller).await;
    let (_, again) = second.next_within(Duration::from_secs(2)).await.expect("pending not sent on reconnect");
    assert_eq!(again["seq"], published["seq"]);
    second.emit_with_ack("notifications:ack", json!({"seqs": [again["seq"]]})).await;
    let stats = wait_for_stats(&app, &seller, |s| s["received"] == 1).await;
    assert_eq!(stats["pending"], 0, "{stats}");

    // Once received, a reconnect without last_seq has nothing to catch up.
    let mut third = connect_as(&app, &seller).await;
    assert!(third.next_within(Duration::from_millis(700)).await.is_none());
}

async fn an_acknowledged_push_is_never_retried(backend: Backend) {
    let app = app_with_retries(backend, Duration::from_secs(1)).await;
    let seller = app.register("prompt").await;
    let mut socket = connect_as(&app, &seller).await;
    let published = app.publish(&seller, "acked at once").await;
    socket.next_notification().await;
    socket.emit_with_ack("notifications:ack", json!({"seqs": [published["seq"]]})).await;
    assert!(
        socket.next_within(ACK_TIMEOUT + Duration::from_secs(3)).await.is_none(),
        "an acknowledged notification was pushed again"
    );
    let stats = wait_for_stats(&app, &seller, |s| s["received"] == 1).await;
    assert_eq!(stats["failed"], 0, "{stats}");
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name(crate::helpers::Backend::Sqlite).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name(crate::helpers::Backend::Postgres).await;
            })*
        }
    };
}

on_both!(
    unacknowledged_pushes_back_off_then_fail,
    a_seller_without_a_socket_fails_after_the_attempts,
    a_reconnecting_seller_gets_pending_notifications_at_once,
    an_acknowledged_push_is_never_retried,
);
