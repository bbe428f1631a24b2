//! Nothing is lost across crashes: the real server binary runs as a child
//! process on an SQLite file. It is killed with SIGKILL while a retry is
//! pending; started again with a crash point (`LIVESHOP_TEST_FAULT=
//! abort-after-commit`), it aborts between committing a notification and
//! pushing it. Started a third time on the same file, it delivers both to a
//! connected seller (the retry queue, the start-up sweep) and records the acks.

use crate::helpers::INGEST_KEY;
use crate::socket_client::{Acks, connect_to};
use serde_json::{Value, json};
use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;
use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::time::Instant;

const JWT_SECRET: &str = "crash test secret, at least 32 bytes";

/// One server process on `port` and the SQLite file in `dir`.
pub(crate) struct ServerProcess {
    child: Child,
    pub(crate) base_url: String,
}

impl ServerProcess {
    async fn start(dir: &Path, port: u16) -> Self {
        Self::start_with(dir, port, &[]).await
    }

    pub(crate) async fn start_with(dir: &Path, port: u16, extra_env: &[(&str, &str)]) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_server"))
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("LEPTOS_SITE_ROOT", dir)
            .env("DATABASE_URL", format!("sqlite://{}", dir.join("liveshop.db").display()))
            .env("JWT_SECRET", JWT_SECRET)
            .env("INGEST_API_KEY", INGEST_KEY)
            .env("ACK_TIMEOUT_MS", "300")
            .env("RETRY_BASE_MS", "2000")
            .env("RETRY_ATTEMPTS", "5")
            .env("RUST_LOG", std::env::var("TEST_SERVER_LOG").unwrap_or_else(|_| "warn".into()))
            .envs(extra_env.iter().copied())
            .stdin(Stdio::null())
            .spawn()
            .expect("cannot start the server binary");
        let server = Self { child, base_url: format!("http://127.0.0.1:{port}") };
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let response = reqwest::get(format!("{}/api/health", self.base_url)).await;
            if response.is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(Instant::now() < deadline, "the server never became healthy");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL: no shutdown code runs.
    fn kill_9(mut self) {
        self.child.kill().expect("cannot kill the server");
        self.child.wait().expect("cannot reap the server");
    }

    /// Waits for the process to die by itself (a crash point), and how.
    async fn wait_for_crash(self) -> std::process::ExitStatus {
        self.wait_for_exit(Duration::from_secs(10))
            .await
            .expect("the server did not crash at its crash point")
    }

    /// SIGTERM, what a deploy sends (`kill`: the tests have no signal crate).
    pub(crate) fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("cannot run kill");
        assert!(status.success(), "kill -TERM failed: {status:?}");
    }

    /// Whether the process still runs.
    pub(crate) fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("cannot poll the server").is_none()
    }

    /// How the process ended, once it has, within `wait`; `None` if it runs on.
    pub(crate) async fn wait_for_exit(mut self, wait: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(status) = self.child.try_wait().expect("cannot poll the server") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn post(url: String, body: Value, api_key: Option<&str>) -> Value {
    let mut request = reqwest::Client::new().post(url).json(&body);
    if let Some(key) = api_key {
        request = request.header("X-Api-Key", key);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn pending_retry_jobs(db: &mut SqliteConnection) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM Jobs WHERE job_type = 'liveshop.retry' AND status = 'Pending'")
        .fetch_one(db)
        .await
        .unwrap()
}

#[tokio::test]
async fn pending_retries_and_never_pushed_notifications_survive_kill_9_and_a_crash_after_commit() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = ServerProcess::start(dir.path(), port).await;
    let base = server.base_url.clone();

    let registered = post(
        format!("{base}/api/auth/register"),
        json!({"email": "crash@shop.example", "password": "correct horse", "shop_name": "Crash"}),
        None,
    )
    .await;
    let token = registered["token"].as_str().unwrap().to_owned();
    let seller_id = registered["seller"]["id"].as_i64().unwrap();

    // Seq 1: pushed to a socket that never acks, so a retry is queued.
    let silent = connect_to(&format!("{base}/"), json!({"token": token}), Acks::Never).await;
    let body = json!({"seller_id": seller_id, "type": "order.created", "title": "one", "body": "b"});
    post(format!("{base}/api/notifications"), body, Some(INGEST_KEY)).await;
    let mut db = SqliteConnection::connect(&format!("sqlite://{}", dir.path().join("liveshop.db").display()))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while pending_retry_jobs(&mut db).await == 0 {
        assert!(Instant::now() < deadline, "no retry job was stored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    server.kill_9();
    drop(silent);
    assert!(pending_retry_jobs(&mut db).await >= 1, "the retry job must be on disk after kill -9");

    // Seq 2: committed, then the process dies before any push.
    let server =
        ServerProcess::start_with(dir.path(), port, &[("LIVESHOP_TEST_FAULT", "abort-after-commit")]).await;
    let body = json!({"seller_id": seller_id, "type": "order.created", "title": "two", "body": "b"});
    let answer = reqwest::Client::new()
        .post(format!("{}/api/notifications", server.base_url))
        .header("X-Api-Key", INGEST_KEY)
        .json(&body)
        .send()
        .await;
    assert!(answer.is_err(), "the publisher got no answer: the process died first ({answer:?})");
    let status = server.wait_for_crash().await;
    assert!(!status.success(), "aborted, not exited: {status:?}");
    let (attempts, sent_at): (i64, Option<String>) =
        sqlx::query_as("SELECT attempts, sent_at FROM notifications WHERE seller_id = $1 AND seq = 2")
            .bind(seller_id)
            .fetch_one(&mut db)
            .await
            .expect("seq 2 was committed before the crash");
    assert_eq!((attempts, sent_at), (1, None), "committed with attempt 1 counted, never pushed");

    // Restart on the same file. The seller reconnects saying it has seen
    // everything up to 2, so the catch-up sends nothing: whatever arrives
    // comes from the retry queue.
    let server = ServerProcess::start(dir.path(), port).await;
    let mut seller =
        connect_to(&format!("{}/", server.base_url), json!({"token": token, "last_seq": 2}), Acks::ByEvent)
            .await;
    let mut seqs = BTreeSet::new();
    while seqs.len() < 2 {
        let (_, pushed) = seller.next_within(Duration::from_secs(15)).await.expect("a retry never came");
        seqs.insert(pushed["seq"].as_i64().unwrap());
    }
    assert_eq!(seqs.into_iter().collect::<Vec<_>>(), [1, 2]);

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let received: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE received_at IS NOT NULL")
                .fetch_one(&mut db)
                .await
                .unwrap();
        if received == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "acks were not recorded: {received} of 2");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
