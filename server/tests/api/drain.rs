//! Draining on deploy: once told to stop, an instance answers `/api/health`
//! with `503 "draining"`, refuses new sockets (`draining`), keeps serving
//! HTTP (ingest included), closes its sockets spread over `DRAIN_MS`, and
//! then stops; the real binary, sent SIGTERM, exits 0.

use crate::crash::{ServerProcess, free_port};
use crate::helpers::{TestApp, TestSeller, metric_in, spawn_stoppable_app_with};
use crate::socket_client::{Acks, TestSocket, connect_as, connect_to};
use app::types::{HealthBody, HealthStatus};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;

/// Long enough for a test to look at the drain from outside; it ends as
/// soon as its last socket is closed, `DRAIN` after the first.
const DRAIN: Duration = Duration::from_millis(3000);

/// A seller with two sockets: with two, the drain lasts its whole period
/// (the first is closed at once, the last at the end).
async fn seller_with_two_sockets(app: &TestApp) -> (TestSeller, [TestSocket; 2]) {
    let seller = app.register("ana").await;
    let sockets = [connect_as(app, &seller).await, connect_as(app, &seller).await];
    app.wait_for_sockets(2.0).await;
    (seller, sockets)
}

/// Waits (up to 2 s) for `/api/health` to say draining; returns its answer.
async fn wait_until_draining(base_url: &str) -> (StatusCode, Value) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let response = reqwest::get(format!("{base_url}/api/health")).await.expect("health must answer");
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        if body["status"] == "draining" {
            return (status, body);
        }
        assert!(Instant::now() < deadline, "never draining: {status} {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Opens an Engine.IO session over polling (no namespace yet): its `sid`,
/// or the server's answer when it refuses.
async fn open_engine_session(http: &reqwest::Client, app: &TestApp) -> Result<String, (StatusCode, Value)> {
    let response = http.get(app.url("/socket.io/?EIO=4&transport=polling")).send().await.unwrap();
    let status = response.status();
    if status != StatusCode::OK {
        return Err((status, response.json().await.unwrap()));
    }
    let body = response.text().await.unwrap();
    let open: Value = serde_json::from_str(body.trim_start_matches('0')).expect("an open packet");
    Ok(open["sid"].as_str().expect("a sid").to_owned())
}

#[tokio::test]
async fn a_draining_instance_answers_health_503_draining_and_refuses_new_sockets() {
    let (app, mut stopper) = spawn_stoppable_app_with(|config| config.drain_period = DRAIN).await;
    let (seller, _sockets) = seller_with_two_sockets(&app).await;
    assert_eq!(app.get("/api/health").await.status(), StatusCode::OK);
    assert_eq!(app.metric("liveshop_draining").await, 0.0);
    // An Engine.IO session opened before the drain, whose namespace
    // connect comes after it (a client caught in the middle).
    let http = reqwest::Client::new();
    let early_sid = open_engine_session(&http, &app).await.expect("not draining yet");

    stopper.stop();
    let (status, raw) = wait_until_draining(&app.url("")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{raw}");
    for field in ["status", "database", "redis", "queue", "instance", "uptime_s"] {
        assert!(raw.get(field).is_some(), "missing {field} in {raw}");
    }
    let body: HealthBody = serde_json::from_value(raw).unwrap();
    assert_eq!((body.status, body.database.as_str()), (HealthStatus::Draining, "ok"));
    assert_eq!(app.metric("liveshop_draining").await, 1.0);

    // A new session is refused before it opens, with an error clients retry.
    let fresh = reqwest::Client::new();
    let (status, refusal) = open_engine_session(&fresh, &app).await.expect_err("refused while draining");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refusal["error"], "draining", "{refusal}");
    // The session opened before the drain is refused its namespace.
    let session = app.url(&format!("/socket.io/?EIO=4&transport=polling&sid={early_sid}"));
    let connect = format!("40{}", json!({"token": seller.token}));
    let posted = fresh.post(&session).body(connect).send().await.unwrap();
    assert_eq!(posted.status(), StatusCode::OK);
    let answer = fresh.get(&session).send().await.unwrap().text().await.unwrap();
    assert!(answer.contains(r#"44{"message":"draining"}"#), "{answer}");
    let refused = app.metric(r#"liveshop_sockets_refused_total{reason="draining"}"#).await;
    assert_eq!(refused, 2.0, "both refusals are counted");

    let stopped = tokio::time::timeout(DRAIN + Duration::from_secs(5), stopper.stopped).await;
    stopped.expect("the run did not end after the drain").unwrap().expect("the run ended with an error");
}

#[tokio::test]
async fn ingest_is_still_accepted_while_draining() {
    let (app, mut stopper) = spawn_stoppable_app_with(|config| config.drain_period = DRAIN).await;
    let (seller, _sockets) = seller_with_two_sockets(&app).await;

    stopper.stop();
    wait_until_draining(&app.url("")).await;
    let started = Instant::now();
    let published = app.publish(&seller, "routed here by a load balancer that had not noticed").await;
    let delta: Value = app.get_as(&seller, "/api/notifications/delta?after=0").await.json().await.unwrap();
    assert_eq!(delta["notifications"][0]["seq"], published["seq"], "stored: {delta}");
    assert!(started.elapsed() < DRAIN / 2, "answered during the drain, not after it");

    let stopped = tokio::time::timeout(DRAIN + Duration::from_secs(5), stopper.stopped).await;
    stopped.expect("the run did not end after the drain").unwrap().expect("the run ended with an error");
}

/// The binary, sent SIGTERM with ten sockets open, closes them over
/// `DRAIN_MS` (watched through `/metrics`, served all along), then exits 0.
#[tokio::test]
async fn sigterm_closes_the_sockets_spread_over_drain_ms_then_exits_0() {
    const DRAIN_MS: u64 = 1000;
    let dir = tempfile::tempdir().unwrap();
    let server =
        ServerProcess::start_with(dir.path(), free_port(), &[("DRAIN_MS", &DRAIN_MS.to_string())]).await;
    let base = server.base_url.clone();
    let http = reqwest::Client::new();
    let registered: Value = http
        .post(format!("{base}/api/auth/register"))
        .json(&json!({"email": "drain@shop.example", "password": "correct horse", "shop_name": "Drain"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = registered["token"].as_str().unwrap().to_owned();
    let mut sockets = Vec::new();
    for _ in 0..10 {
        sockets.push(connect_to(&format!("{base}/"), json!({"token": token}), Acks::Never).await);
    }
    // `None` once the server no longer answers.
    let (http, metrics) = (&http, format!("{base}/metrics"));
    let metrics = metrics.as_str();
    let connected = move || async move {
        let text = http.get(metrics).send().await.ok()?.text().await.ok()?;
        metric_in(&text, "liveshop_socketio_connected_sockets")
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while connected().await != Some(10.0) {
        assert!(Instant::now() < deadline, "the ten sockets never all connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    server.terminate();
    let (status, _) = wait_until_draining(&base).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    // When the first and the last socket went, as the server counts them.
    // It stops answering once they are all gone (the drain is over), so
    // that moment counts as the last one too.
    let (mut first_gone, mut all_gone, mut fewest) = (None, None, 10.0_f64);
    let deadline = Instant::now() + Duration::from_secs(5);
    while all_gone.is_none() && Instant::now() < deadline {
        let count = connected().await;
        let now = Instant::now();
        fewest = fewest.min(count.unwrap_or(fewest));
        if count.is_none_or(|count| count < 10.0) {
            first_gone.get_or_insert(now);
        }
        if count.is_none_or(|count| count == 0.0) {
            all_gone = Some(now);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (first_gone, all_gone) = (first_gone.expect("no socket closed"), all_gone.expect("sockets left"));
    assert!(fewest <= 1.0, "the server stopped with {fewest} sockets still connected");
    let spread = all_gone - first_gone;
    assert!(
        spread >= Duration::from_millis(DRAIN_MS / 2),
        "closed within {spread:?}: not spread over DRAIN_MS"
    );
    assert!(spread <= Duration::from_millis(DRAIN_MS + 1000), "closed over {spread:?}");

    let status = server.wait_for_exit(Duration::from_secs(8)).await.expect("still running after the drain");
    assert_eq!(status.code(), Some(0), "{status:?}");
    drop(sockets);
}
