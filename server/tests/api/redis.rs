//! Many instances through the Redis adapter, and what happens when Redis
//! goes away. Each test runs its own `redis-server` on a free port, so it can
//! stop and restart it, and never shares channels with anything else.

use crate::helpers::{Backend, TestApp, TestSeller, spawn_app_on};
use crate::socket_client::{Acks, TestSocket, connect_as, connect_to, wait_for_stats};
use serde_json::{Value, json};
use server::config::RedisUrl;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::time::Instant;

/// A private Redis server, killed on drop.
struct RedisServer {
    port: u16,
    child: Child,
}

impl RedisServer {
    async fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is required for these tests (Debian package redis-server)");
        let server = Self { port, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    async fn start() -> Self {
        Self::start_on(free_port()).await
    }

    fn url(&self) -> RedisUrl {
        RedisUrl::parse(&format!("redis://127.0.0.1:{}", self.port)).unwrap()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An instance using `redis`, on `shared`'s database when given.
async fn instance(redis: RedisUrl, shared: Option<&TestApp>) -> TestApp {
    let database_url = shared.map(|app| app.database_url.clone());
    spawn_app_on(Backend::Sqlite, move |config| {
        // One prefix per Redis server: the instances of a test share it.
        config.redis.prefix = format!("test-{}", redis.expose().rsplit(':').next().unwrap_or_default());
        config.redis.url = Some(redis);
        // Retries would hide a broken adapter (any instance's worker can
        // push to its own sockets): keep them out of the tests' windows.
        config.delivery.retry.base = Duration::from_secs(60);
        if let Some(url) = database_url {
            config.database_url = url;
        }
    })
    .await
}

async fn health(app: &TestApp) -> (u16, Value) {
    let response = app.get("/api/health").await;
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn wait_for_health(app: &TestApp, redis: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, body) = health(app).await;
        if body["redis"] == redis {
            return body;
        }
        assert!(Instant::now() < deadline, "redis never became {redis}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Two instances `a` and `b` on one database and `redis`, both routing, and
/// a seller with an acknowledging socket on `a`.
async fn seller_on_a_of_two(redis: &RedisServer) -> (TestApp, TestApp, TestSeller, TestSocket) {
    let a = instance(redis.url(), None).await;
    let b = instance(redis.url(), Some(&a)).await;
    wait_for_health(&a, "ok").await;
    wait_for_health(&b, "ok").await;
    let seller = a.register("ana").await;
    let on_a = connect_to(&a.url("/"), json!({"token": seller.token}), Acks::ByEvent).await;
    (a, b, seller, on_a)
}

#[tokio::test]
async fn a_notification_published_on_one_instance_reaches_a_socket_on_another() {
    let redis = RedisServer::start().await;
    let (_a, b, seller, mut on_a) = seller_on_a_of_two(&redis).await;
    // Published through b: only Redis can bring it to the socket on a.
    let published = b.publish(&seller, "cross-instance").await;
    let (_, pushed) = on_a.next_within(Duration::from_secs(5)).await.expect("no push across instances");
    assert_eq!(pushed["seq"], published["seq"]);
    let stats = wait_for_stats(&b, &seller, |s| s["received"] == 1).await;
    assert_eq!(stats["failed"], 0, "{stats}");
}

/// Commands Redis has processed so far (`INFO stats`), this query included.
async fn commands_processed(redis: &RedisServer) -> u64 {
    let client = redis::Client::open(redis.url().expose()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO").arg("stats").query_async(&mut connection).await.unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("total_commands_processed:"))
        .and_then(|count| count.trim().parse().ok())
        .expect("INFO stats has total_commands_processed")
}

#[tokio::test]
async fn a_batch_crosses_instances_in_a_few_redis_commands_and_is_acknowledged_where_it_arrived() {
    const BATCH: usize = 300;
    let redis = RedisServer::start().await;
    let (_a, b, seller, mut on_a) = seller_on_a_of_two(&redis).await;

    let before = commands_processed(&redis).await;
    // Stored through b: the relay must carry the group to a in a few
    // messages, not one request/response per notification.
    let items: Vec<Value> =
        (0..BATCH).map(|i| json!({"seller_id": seller.id, "type": "order.created", "title": format!("n{i}"), "body": "b"})).collect();
    let response = b.ingest_batch(&json!({"notifications": items})).await;
    assert_eq!(response.status(), 201);

    let mut seqs = Vec::with_capacity(BATCH);
    while seqs.len() < BATCH {
        let (_, pushed) = on_a
            .next_within(Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("only {} of {BATCH} crossed to a", seqs.len()));
        seqs.push(pushed["seq"].as_i64().unwrap());
    }
    let expected: Vec<i64> = (1..=BATCH as i64).collect();
    assert_eq!(seqs, expected, "in seq order, nothing missing, nothing twice");
    // a recorded the acks in the shared database: b sees them without any
    // ack travelling back through Redis.
    let stats = wait_for_stats(&b, &seller, |s| s["received"] == BATCH).await;
    assert_eq!(stats["pending"], 0, "{stats}");
    let commands = commands_processed(&redis).await - before;
    assert!(commands <= (BATCH / 10) as u64, "{commands} Redis commands for {BATCH} notifications");
}

#[tokio::test]
async fn a_redis_outage_degrades_without_losing_local_pushes_then_recovers() {
    let mut redis = RedisServer::start().await;
    let port = redis.port;
    let a = instance(redis.url(), None).await;
    let b = instance(redis.url(), Some(&a)).await;
    let body = wait_for_health(&a, "ok").await;
    assert_eq!(body["status"], "ok", "{body}");
    wait_for_health(&b, "ok").await;
    let seller = a.register("ana").await;
    let mut socket = connect_as(&a, &seller).await;

    redis.stop();
    let body = wait_for_health(&a, "down").await;
    assert_eq!(body["status"], "degraded");
    let (status, _) = health(&a).await;
    assert_eq!(status, 200, "degraded is still 200");
    let metrics = a.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("liveshop_redis_up 0"), "{metrics}");

    let published = a.publish(&seller, "during the outage").await;
    let (_, pushed) = socket.next_within(Duration::from_secs(5)).await.expect("local socket missed a push");
    assert_eq!(pushed["seq"], published["seq"]);

    let _redis = RedisServer::start_on(port).await;
    wait_for_health(&a, "ok").await;
    wait_for_health(&b, "ok").await;
    // Published through b: only a's adapter subscriptions, made again after
    // the outage, can bring it to the socket on a (retries are a minute
    // away). The connection may answer PING a moment before they are back,
    // so each attempt publishes anew and the first to arrive counts.
    // Only a push that arrives within half a second of its publish counts:
    // what missed the relay reaches the socket too, but seconds later, from
    // the store (see the next test).
    let deadline = Instant::now() + Duration::from_secs(10);
    'publishing: loop {
        let published = b.publish(&seller, "after the outage").await;
        let relayed_by = Instant::now() + Duration::from_millis(500);
        while let Some((_, pushed)) =
            socket.next_within(relayed_by.saturating_duration_since(Instant::now())).await
        {
            if pushed["seq"] == published["seq"] {
                break 'publishing;
            }
        }
        assert!(Instant::now() < deadline, "a's subscriptions never came back: nothing crosses from b");
    }
}

#[tokio::test]
async fn a_socket_on_another_instance_gets_what_it_missed_while_redis_was_down() {
    let mut redis = RedisServer::start().await;
    let (a, b, seller, mut on_a) = seller_on_a_of_two(&redis).await;
    let mut on_b = connect_to(&b.url("/"), json!({"token": seller.token}), Acks::ByEvent).await;
    b.wait_for_sockets(1.0).await;

    redis.stop();
    wait_for_health(&a, "down").await;
    let published = a.publish(&seller, "during the outage").await;
    let started = Instant::now();
    let (_, pushed) = on_a.next_within(Duration::from_secs(5)).await.expect("the local socket missed a push");
    assert_eq!(pushed["seq"], published["seq"]);
    // Acknowledged on a: no retry will ever bring it to b, and the relay
    // could not. b's socket is sent it from the shared database, Redis or not.
    wait_for_stats(&a, &seller, |s| s["received"] == 1).await;
    let (arrived, pushed) =
        on_b.next_within(Duration::from_secs(10)).await.expect("the socket on b never got what it missed");
    assert_eq!(pushed["seq"], published["seq"]);
    let waited = arrived - started;
    eprintln!("missed push reached the socket on b {waited:?} after its publish");
    assert!(on_b.next_within(Duration::from_secs(4)).await.is_none(), "sent once");
    let metrics = b.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("liveshop_missed_pushes_resent_total 1"), "{metrics}");
}

#[tokio::test]
async fn an_unreachable_redis_at_start_up_is_degraded_not_fatal() {
    let nowhere = RedisUrl::parse(&format!("redis://127.0.0.1:{}", free_port())).unwrap();
    let app = instance(nowhere, None).await;
    let (status, body) = health(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["redis"], "down", "{body}");

    let seller = app.register("ana").await;
    let mut socket = connect_as(&app, &seller).await;
    let published = app.publish(&seller, "redis never came").await;
    let (_, pushed) = socket.next_within(Duration::from_secs(5)).await.expect("local socket missed a push");
    assert_eq!(pushed["seq"], published["seq"]);
}

#[tokio::test]
async fn signing_out_everywhere_on_one_instance_disconnects_the_sellers_sockets_on_another() {
    let redis = RedisServer::start().await;
    let (a, b, seller, _on_a) = seller_on_a_of_two(&redis).await;
    assert_eq!(a.metric("liveshop_socketio_connected_sockets").await, 1.0);

    let response = b.post_as(&seller, "/api/auth/logout-everywhere", None).await;
    assert_eq!(response.status(), 204);
    // The socket on a does not outlive its session.
    a.wait_for_sockets(0.0).await;
    // a reads the store at the handshake (its HTTP cache may believe the
    // session for a few seconds more): the socket cannot come back.
    let error = crate::socket::handshake(&a, json!({"token": seller.token}), &[]).await.err();
    assert!(error.expect("refused").contains("unauthorized"));
}
