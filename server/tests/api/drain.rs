//! Draining on deploy: once told to stop, an instance answers `/api/health`
//! with `503 "draining"`, refuses new sockets (`draining`), keeps serving
//! HTTP (ingest included, on any connection that is not a socket's), closes
//! its sockets spread over `DRAIN_MS`, then refuses what is left of their
//! sessions, and stops; the real binary, sent SIGTERM, exits 0.

use crate::crash::{ServerProcess, free_port};
use crate::helpers::{INGEST_KEY, TestApp, TestSeller, metric_in, spawn_stoppable_app_with};
use crate::socket_client::{Acks, TestSocket, connect_as, connect_to};
use app::types::{HealthBody, HealthStatus};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
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

/// One HTTP/1.1 connection driven by hand, so that several requests go over
/// the same one (reqwest picks its connections itself).
struct RawConnection {
    stream: BufReader<TcpStream>,
    host: SocketAddr,
}

/// An answer read off a [`RawConnection`].
#[derive(Debug)]
struct RawResponse {
    status: u16,
    /// Names in lower case.
    headers: Vec<(String, String)>,
    body: String,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, value)| value.as_str())
    }
}

impl RawConnection {
    async fn open(address: SocketAddr) -> Self {
        let stream = TcpStream::connect(address).await.expect("cannot connect");
        Self { stream: BufReader::new(stream), host: address }
    }

    /// Sends a request (`head` without `Host`, nor the blank line) and reads
    /// its answer; an error when the connection was closed before it came.
    async fn send(&mut self, head: &str, body: &str) -> std::io::Result<RawResponse> {
        let request =
            format!("{head}\r\nHost: {}\r\nContent-Length: {}\r\n\r\n{body}", self.host, body.len());
        let exchange = async {
            self.stream.get_mut().write_all(request.as_bytes()).await?;
            self.read_response().await
        };
        tokio::time::timeout(Duration::from_secs(5), exchange).await.expect("no answer within 5 s")
    }

    async fn read_response(&mut self) -> std::io::Result<RawResponse> {
        let closed = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed");
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err(closed());
        }
        let status = line.split(' ').nth(1).and_then(|code| code.parse().ok()).expect("a status line");
        let mut headers = Vec::new();
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(closed());
            }
            let Some((name, value)) = line.trim_end().split_once(':') else { break };
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
        let mut response = RawResponse { status, headers, body: String::new() };
        if let Some(length) = response.header("content-length") {
            let mut body = vec![0; length.parse().expect("a length")];
            self.stream.read_exact(&mut body).await?;
            response.body = String::from_utf8_lossy(&body).into_owned();
        } else if response.header("transfer-encoding") == Some("chunked") {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await?;
                let size = usize::from_str_radix(line.trim_end(), 16).expect("a chunk size");
                let mut chunk = vec![0; size + 2];
                self.stream.read_exact(&mut chunk).await?;
                if size == 0 {
                    break;
                }
                response.body.push_str(&String::from_utf8_lossy(&chunk[..size]));
            }
        }
        Ok(response)
    }

    /// Whether the server closes the connection (within 2 s).
    async fn closed_by_the_server(&mut self) -> bool {
        let mut buf = [0u8; 64];
        matches!(
            tokio::time::timeout(Duration::from_secs(2), self.stream.read(&mut buf)).await,
            Ok(Ok(0) | Err(_))
        )
    }
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

/// A proxy (nginx's `keepalive` pool) reuses a connection whose WebSocket
/// upgrade was refused for the JSON API: during the drain its requests are
/// answered, never cut (a POST cut there is not resent: the publisher would
/// see 502 and might publish twice). Only a `101` makes a connection a
/// socket's.
#[tokio::test]
async fn a_connection_whose_upgrade_was_refused_serves_the_api_through_the_drain() {
    let (app, mut stopper) = spawn_stoppable_app_with(|config| config.drain_period = DRAIN).await;
    let (seller, _sockets) = seller_with_two_sockets(&app).await;
    // Several, so that were they taken for sockets, the slices before the
    // requests below would close some of them whatever their order: 2 + 4
    // connections would be closed at 0, 0.6, 1.2, 1.8, 2.4 and 3 s.
    let mut connections = Vec::new();
    for _ in 0..4 {
        let mut connection = RawConnection::open(app.address).await;
        let refused = connection
            .send(
                "GET /socket.io/?EIO=4&transport=websocket&sid=nonexistent HTTP/1.1\r\n\
                 Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                "",
            )
            .await
            .expect("the upgrade must be answered");
        assert_eq!(refused.status, 400, "{refused:?}");
        assert!(refused.body.contains("Session ID unknown"), "{refused:?}");
        // Still open, as a keep-alive connection.
        let health = connection.send("GET /api/health HTTP/1.1", "").await.expect("kept alive");
        assert_eq!(health.status, 200, "{health:?}");
        connections.push(connection);
    }

    stopper.stop();
    wait_until_draining(&app.url("")).await;
    let draining = Instant::now();
    // Past four slices of six (had the refused connections counted), well
    // before the last one (3 s).
    tokio::time::sleep(Duration::from_millis(2000)).await;
    for (i, connection) in connections.iter_mut().enumerate() {
        let body = json!({"seller_id": seller.id, "type": "order.created", "title": format!("late {i}"), "body": "b"});
        let published = connection
            .send(
                &format!("POST /api/notifications HTTP/1.1\r\nX-Api-Key: {INGEST_KEY}\r\nContent-Type: application/json"),
                &body.to_string(),
            )
            .await
            .unwrap_or_else(|error| panic!("connection {i} was cut during the drain: {error}"));
        assert_eq!(published.status, 201, "{published:?}");
    }
    assert!(draining.elapsed() < DRAIN, "answered during the spread, not after it");

    let stopped = tokio::time::timeout(DRAIN + Duration::from_secs(5), stopper.stopped).await;
    stopped.expect("the run did not end after the drain").unwrap().expect("the run ended with an error");
}

/// A client on long polling: its poll in flight is closed by the last
/// slice; its next request (it was between two polls, as far as the server
/// can tell) is answered `503 draining` on a connection then closed, so it
/// reconnects elsewhere and the shutdown has no long poll to wait for.
#[tokio::test]
async fn after_the_spread_a_polling_session_is_refused_503_and_its_connection_closed() {
    const DRAIN: Duration = Duration::from_millis(1500);
    let (app, mut stopper) = spawn_stoppable_app_with(|config| config.drain_period = DRAIN).await;
    let (seller, _sockets) = seller_with_two_sockets(&app).await;
    // A socket on long polling, connected to the namespace.
    let http = reqwest::Client::new();
    let sid = open_engine_session(&http, &app).await.expect("not draining yet");
    let session = app.url(&format!("/socket.io/?EIO=4&transport=polling&sid={sid}"));
    let connect = format!("40{}", json!({"token": seller.token}));
    assert_eq!(http.post(&session).body(connect).send().await.unwrap().status(), StatusCode::OK);
    // Its first ping may come before or with the connect: answered, so
    // that the next poll has nothing to take and waits.
    let mut answers = String::new();
    while !answers.contains("40{") {
        let answer = http.get(&session).send().await.unwrap().text().await.unwrap();
        if answer.split('\u{1e}').any(|packet| packet == "2") {
            assert_eq!(http.post(&session).body("3").send().await.unwrap().status(), StatusCode::OK);
        }
        answers.push_str(&answer);
        assert!(answers.len() < 4096, "no namespace connect: {answers:?}");
    }
    app.wait_for_sockets(3.0).await;

    stopper.stop();
    wait_until_draining(&app.url("")).await;
    let draining = Instant::now();
    // A poll in flight: nothing to send, it waits (for the next ping, 25 s
    // away) until the last slice closes its connection.
    let poll = http.get(&session).send().await;
    let cut = draining.elapsed();
    assert!(poll.is_err(), "the poll in flight was answered instead of closed: {poll:?}");
    assert!(cut >= DRAIN - Duration::from_millis(200), "closed after {cut:?}, before the last slice");
    assert!(cut < DRAIN + Duration::from_secs(1), "closed after {cut:?}");

    // The client's next poll: refused, and the connection closed.
    let mut connection = RawConnection::open(app.address).await;
    let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    let refused = connection.send(&format!("GET {path} HTTP/1.1"), "").await.expect("answered");
    assert_eq!(refused.status, 503, "{refused:?}");
    assert_eq!(refused.header("connection"), Some("close"), "{refused:?}");
    let body: Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(body["error"], "draining", "{body}");
    assert!(connection.closed_by_the_server().await, "the connection stays open");
    // So is a packet it posts.
    let posted = http.post(&session).body("3").send().await.unwrap();
    assert_eq!(posted.status(), StatusCode::SERVICE_UNAVAILABLE);
    let refused = app.metric(r#"liveshop_sockets_refused_total{reason="draining"}"#).await;
    assert_eq!(refused, 0.0, "not counted as refused sockets: they were this instance's");

    let stopped = tokio::time::timeout(Duration::from_secs(5), stopper.stopped).await;
    stopped.expect("the run did not end after the drain").unwrap().expect("the run ended with an error");
}

/// Once the sockets are closed, a second SIGTERM exits at once, with 0,
/// even with a request holding the shutdown grace (here a body that never
/// ends, which would hold it its whole 10 s).
#[tokio::test]
async fn a_second_sigterm_after_the_spread_exits_at_once_with_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start_with(dir.path(), free_port(), &[("DRAIN_MS", "1000")]).await;
    let address: SocketAddr = server.base_url.trim_start_matches("http://").parse().unwrap();
    let mut stuck = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /api/notifications HTTP/1.1\r\nHost: {address}\r\nX-Api-Key: {INGEST_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"seller_id\": 1,"
    );
    stuck.write_all(head.as_bytes()).await.unwrap();

    server.terminate();
    // No socket: the spread is over at once, the server stops taking
    // requests and waits for the stuck one.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(server.is_running(), "the request in flight must hold the shutdown");
    server.terminate();
    let second = Instant::now();
    let status =
        server.wait_for_exit(Duration::from_secs(3)).await.expect("still running after the second signal");
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(
        second.elapsed() < Duration::from_secs(2),
        "exited {:?} after the second signal",
        second.elapsed()
    );
    drop(stuck);
}
