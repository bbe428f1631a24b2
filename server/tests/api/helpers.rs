//! Starts the real server on a random port against a fresh database of its
//! own (an SQLite file in a temp dir, or a new PostgreSQL database), and gives
//! tests typed helpers for the contract's calls.

use reqwest::StatusCode;
use serde_json::{Value, json};
use server::config::{Config, DatabaseUrl};
use server::startup::Application;
use server::store::Database;
use std::net::SocketAddr;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use tempfile::TempDir;

pub(crate) const INGEST_KEY: &str = "test-ingest-key";

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// A running server and what a test needs to reach it.
pub(crate) struct TestApp {
    pub(crate) address: SocketAddr,
    pub(crate) http: reqwest::Client,
    pub(crate) database: Database,
    /// Where its database is, so a second instance can share it.
    pub(crate) database_url: DatabaseUrl,
    /// Keeps the SQLite folder alive as long as the server runs.
    _dir: TempDir,
}

/// A registered seller.
pub(crate) struct TestSeller {
    pub(crate) id: i64,
    pub(crate) token: String,
}

impl TestApp {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("request failed")
    }

    pub(crate) async fn get_as(&self, seller: &TestSeller, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).bearer_auth(&seller.token).send().await.expect("request failed")
    }

    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http.post(self.url(path)).json(body).send().await.expect("request failed")
    }

    pub(crate) async fn post_as(
        &self,
        seller: &TestSeller,
        path: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut request = self.http.post(self.url(path)).bearer_auth(&seller.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request failed")
    }

    /// The value of an unlabelled series in `/metrics`; panics when it is
    /// missing.
    pub(crate) async fn metric(&self, name: &str) -> f64 {
        let text = self.get("/metrics").await.text().await.expect("metrics body");
        metric_in(&text, name).unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
    }

    /// Waits (up to 5 s) until this instance holds `expected` sockets;
    /// disconnects are seen by the server a moment after they happen.
    pub(crate) async fn wait_for_sockets(&self, expected: f64) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let connected = self.metric("liveshop_socketio_connected_sockets").await;
            if connected == expected {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{connected} sockets connected, expected {expected}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// `POST /api/notifications` with the test ingest key.
    pub(crate) async fn ingest(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url("/api/notifications"))
            .header("X-Api-Key", INGEST_KEY)
            .json(body)
            .send()
            .await
            .expect("request failed")
    }

    pub(crate) async fn ingest_batch(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url("/api/notifications/batch"))
            .header("X-Api-Key", INGEST_KEY)
            .json(body)
            .send()
            .await
            .expect("request failed")
    }

    /// Registers a seller with a unique email; panics unless 201.
    pub(crate) async fn register(&self, name: &str) -> TestSeller {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let body = json!({"email": format!("{name}{n}@shop.example"), "password": "correct horse", "shop_name": name});
        let response = self.post_json("/api/auth/register", &body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "register failed");
        let body: Value = response.json().await.unwrap();
        TestSeller {
            id: body["seller"]["id"].as_i64().expect("seller.id is an integer"),
            token: body["token"].as_str().expect("token is a string").to_owned(),
        }
    }

    /// Publishes one notification for `seller` through ingest; returns it.
    pub(crate) async fn publish(&self, seller: &TestSeller, title: &str) -> Value {
        let body = json!({"seller_id": seller.id, "type": "order.created", "title": title, "body": "b"});
        let response = self.ingest(&body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "ingest failed");
        response.json::<Value>().await.unwrap()["notification"].clone()
    }
}

/// Logs are silent unless `TEST_LOG=1`.
fn init_test_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tracing_subscriber::fmt().with_env_filter("debug").with_test_writer().init();
        }
    });
}

/// Runs `end2end/contract/<script>` with Node (the official
/// `socket.io-client`, as the mobile app uses it) and returns what it printed;
/// panics when it hangs past `wait` or fails.
pub(crate) async fn run_contract_script(script: &str, args: &[&str], wait: std::time::Duration) -> String {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../end2end/contract").join(script);
    let output =
        tokio::time::timeout(wait, tokio::process::Command::new("node").arg(&path).args(args).output())
            .await
            .unwrap_or_else(|_| panic!("{script} hung"))
            .expect(
                "node must be installed (scripts/setup.sh installs it, and socket.io-client with npm ci)",
            );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script} failed:\n{stdout}\n{stderr}");
    stdout
}

/// The value of the unlabelled series `name` in a Prometheus text body.
pub(crate) fn metric_in(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A running server's way out: what SIGTERM is to the binary.
pub(crate) struct Stopper {
    signal: Option<tokio::sync::oneshot::Sender<()>>,
    /// The server's run, which ends once it has drained and stopped.
    pub(crate) stopped: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Stopper {
    /// Starts the shutdown (the drain first), as the first SIGTERM would.
    pub(crate) fn stop(&mut self) {
        if let Some(signal) = self.signal.take() {
            let _ = signal.send(());
        }
    }
}

/// Starts the application on SQLite, adjusted by `customise`, with a
/// [`Stopper`] to shut it down.
pub(crate) async fn spawn_stoppable_app_with(customise: impl FnOnce(&mut Config)) -> (TestApp, Stopper) {
    let (signal, stopping) = tokio::sync::oneshot::channel::<()>();
    let (app, stopped) = start(Backend::Sqlite, customise, async move {
        let _ = stopping.await;
    })
    .await;
    (app, Stopper { signal: Some(signal), stopped })
}

/// Starts the application on `backend`, adjusted by `customise`.
pub(crate) async fn spawn_app_on(backend: Backend, customise: impl FnOnce(&mut Config)) -> TestApp {
    start(backend, customise, std::future::pending()).await.0
}

/// Starts the application, to run until `shutdown` completes.
async fn start(
    backend: Backend,
    customise: impl FnOnce(&mut Config),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> (TestApp, tokio::task::JoinHandle<anyhow::Result<()>>) {
    init_test_logging();
    let dir = tempfile::tempdir().expect("cannot create a temp dir");
    let mut config = Config::for_tests(dir.path());
    if backend == Backend::Postgres {
        config.database_url = fresh_postgres_database().await;
    }
    customise(&mut config);
    let database_url = config.database_url.clone();
    let app = Application::build(config).await.expect("the app must build");
    let address = app.local_addr();
    let database = app.database().clone();
    let running = tokio::spawn(app.run_until_stopped(shutdown));
    (TestApp { address, http: reqwest::Client::new(), database, database_url, _dir: dir }, running)
}

pub(crate) async fn spawn_app_with(customise: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_on(Backend::Sqlite, customise).await
}

pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A new, empty PostgreSQL database for one test.
///
/// `TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
/// is the server to create it on; `TEST_DB_PREFIX` names it, so a test run can
/// find and drop its own databases afterwards. PostgreSQL being unreachable
/// fails the test: these tests never skip silently.
async fn fresh_postgres_database() -> DatabaseUrl {
    use sqlx::Connection;
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let admin_url = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let prefix =
        std::env::var("TEST_DB_PREFIX").unwrap_or_else(|_| format!("liveshop_test_{}_", std::process::id()));
    let name = format!("{prefix}{}", COUNTER.fetch_add(1, Ordering::Relaxed));
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} is required for these tests: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\"")))
        .execute(&mut admin)
        .await
        .expect("cannot drop the old test database");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .expect("cannot create a test database");
    let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(base, _)| base);
    DatabaseUrl::parse(&format!("{base}/{name}")).expect("a valid PostgreSQL URL")
}

/// Defines each test twice: `sqlite::name` and `postgres::name`, each given a
/// fresh app on that backend.
macro_rules! on_both_backends {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let $app = crate::helpers::spawn_app_on(crate::helpers::Backend::Sqlite, |_| {}).await;
                    $body
                }
            )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let $app = crate::helpers::spawn_app_on(crate::helpers::Backend::Postgres, |_| {}).await;
                    $body
                }
            )*
        }
    };
}
pub(crate) use on_both_backends;
