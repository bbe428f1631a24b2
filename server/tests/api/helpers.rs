use server::config::Config;
use server::startup::Application;
use std::net::SocketAddr;
use std::sync::Once;
use tempfile::TempDir;

/// A running server and what a test needs to reach it.
pub(crate) struct TestApp {
    pub(crate) address: SocketAddr,
    pub(crate) http: reqwest::Client,
    /// Keeps the database folder alive as long as the server runs.
    _dir: TempDir,
}

impl TestApp {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("request failed")
    }
}

/// Logs are silent unless `TEST_LOG=1`.
fn init_test_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tracing_subscriber::fmt()
                .with_env_filter("debug")
                .with_test_writer()
                .init();
        }
    });
}

/// Starts the application with the test defaults, adjusted by `customise`.
pub(crate) async fn spawn_app_with(customise: impl FnOnce(&mut Config)) -> TestApp {
    init_test_logging();
    let dir = tempfile::tempdir().expect("cannot create a temp dir");
    let mut config = Config::for_tests(dir.path());
    customise(&mut config);
    let app = Application::build(config)
        .await
        .expect("the app must build");
    let address = app.local_addr();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    TestApp {
        address,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}
