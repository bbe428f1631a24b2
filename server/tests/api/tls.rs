//! TLS to PostgreSQL and Redis, for real. Each test makes a throw-away CA, a
//! server certificate it signed for `localhost` and `127.0.0.1`, and a second,
//! unrelated CA; then starts its own PostgreSQL (a fresh cluster with
//! `ssl=on` whose `pg_hba.conf` admits TCP clients over TLS only) or its own
//! `redis-server` listening on a TLS port only. Nothing here uses the
//! machine's PostgreSQL or Redis.
//!
//! PostgreSQL refuses to run as root (as CI does): then `initdb` and
//! `postgres` (and `pg_ctl stop`, on drop) run as the `postgres` user through
//! `setpriv`, which execs (unlike `runuser`, which stays the parent), so the
//! child is the postmaster itself.

use crate::helpers::{Backend, TestApp, spawn_app_on};
use crate::socket_client::{Acks, connect_to};
use serde_json::{Value, json};
use server::config::{CaFile, Config, DatabaseKind, DatabaseUrl, RedisUrl};
use server::startup::Application;
use server::store::Database;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;
use tokio::time::Instant;

/// A CA, a server certificate it signed, and a CA that signed nothing here.
struct Pki {
    dir: TempDir,
    server_cert: String,
    server_key: String,
}

impl Pki {
    fn new() -> Self {
        use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair};
        let dir = tempfile::tempdir().expect("cannot create a temp dir");
        let (ca, issuer) = certificate_authority("LiveShop test CA");
        let (other_ca, _) = certificate_authority("Some other CA");
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("other-ca.pem"), other_ca.pem()).unwrap();

        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = params.signed_by(&key, &issuer).unwrap().pem();
        Self { dir, server_cert, server_key: key.serialize_pem() }
    }

    /// The CA that signed the servers' certificate.
    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A CA that signed nothing here.
    fn other_ca(&self) -> PathBuf {
        self.dir.path().join("other-ca.pem")
    }

    /// Writes the server's certificate and key into `dir`; the key readable
    /// by its owner only, as PostgreSQL demands.
    fn write_server_files(&self, dir: &Path) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
        std::fs::write(&cert, &self.server_cert).unwrap();
        std::fs::write(&key, &self.server_key).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        (cert, key)
    }
}

fn certificate_authority(name: &str) -> (rcgen::Certificate, rcgen::Issuer<'static, rcgen::KeyPair>) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let certificate = params.self_signed(&key).unwrap();
    (certificate, Issuer::new(params, key))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn running_as_root() -> bool {
    let output = Command::new("id").arg("-u").output().expect("`id -u` must run");
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding the server
/// binaries. Their absence fails the test: it never skips silently.
fn postgres_bin_dir() -> PathBuf {
    let versions = std::fs::read_dir("/usr/lib/postgresql").into_iter().flatten().flatten();
    let mut found: Vec<(u32, PathBuf)> = versions
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file()).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!(
            "the PostgreSQL server binaries (initdb, postgres) are not in /usr/lib/postgresql/*/bin: \
             install Debian's `postgresql` package (scripts/setup.sh does)"
        )
    })
}

/// A private PostgreSQL cluster with `ssl=on`, stopped on drop.
struct PostgresServer {
    port: u16,
    child: Child,
    /// `pg_ctl stop`, fast mode: ends the sessions, removes the shared
    /// memory and exits (a SIGKILL would leave the memory behind).
    stop: Command,
    _dir: TempDir,
}

impl PostgresServer {
    async fn start(pki: &Pki) -> Self {
        let bin = postgres_bin_dir();
        let as_root = running_as_root();
        // As root, a command runs as `postgres`; setpriv execs it.
        let command = |program: &str| {
            let program = bin.join(program);
            if as_root {
                let mut command = Command::new("setpriv");
                command.args(["--reuid=postgres", "--regid=postgres", "--init-groups"]).arg(program);
                command
            } else {
                Command::new(program)
            }
        };
        let dir = tempfile::tempdir().expect("cannot create a temp dir");
        let data = dir.path().join("data");
        let (cert, key) = pki.write_server_files(dir.path());
        if as_root {
            let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status();
            assert!(
                status.is_ok_and(|s| s.success()),
                "cannot hand the cluster's folder to the postgres user"
            );
        }
        let initdb = command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"])
            .output()
            .expect("initdb must run");
        assert!(initdb.status.success(), "initdb failed: {}", String::from_utf8_lossy(&initdb.stderr));
        // TCP clients over TLS only: a plain connection matches no line.
        std::fs::write(data.join("pg_hba.conf"), "local all all trust\nhostssl all all 127.0.0.1/32 trust\n")
            .unwrap();

        let port = free_port();
        let log = std::fs::File::create(dir.path().join("postgres.log")).unwrap();
        let child = command("postgres")
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(dir.path())
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "ssl=on"])
            .arg("-c")
            .arg(format!("ssl_cert_file={}", cert.display()))
            .arg("-c")
            .arg(format!("ssl_key_file={}", key.display()))
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("postgres must start");
        let mut stop = command("pg_ctl");
        stop.args(["stop", "-m", "fast", "-w", "-t", "5", "-D"]).arg(&data).stdout(Stdio::null());
        let mut server = Self { port, child, stop, _dir: dir };

        // Ready when a verified TLS connection gets in.
        let ready = server.url("verify-full", Some(&pki.ca()));
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            use sqlx::Connection;
            match sqlx::PgConnection::connect(ready.expose()).await {
                Ok(connection) => {
                    let _ = connection.close().await;
                    return server;
                }
                Err(error) => {
                    if Instant::now() >= deadline || matches!(server.child.try_wait(), Ok(Some(_))) {
                        let log = std::fs::read_to_string(server._dir.path().join("postgres.log"));
                        panic!("PostgreSQL did not start: {error}\n{}", log.unwrap_or_default());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// `postgres://postgres:hunter2@127.0.0.1:<port>/postgres` with `sslmode`
    /// and, when given, `sslrootcert`. The password is never asked for
    /// (trust), but an error message must not show it.
    fn url(&self, sslmode: &str, root_cert: Option<&Path>) -> DatabaseUrl {
        let mut url =
            format!("postgres://postgres:hunter2@127.0.0.1:{}/postgres?sslmode={sslmode}", self.port);
        if let Some(root_cert) = root_cert {
            url.push_str(&format!("&sslrootcert={}", root_cert.display()));
        }
        DatabaseUrl::parse(&url).expect("a valid DATABASE_URL")
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let stopped = self.stop.status().is_ok_and(|status| status.success());
        if !stopped {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A private `redis-server` with a TLS port and no plain one, killed on drop.
struct TlsRedis {
    port: u16,
    child: Child,
    _dir: TempDir,
}

impl TlsRedis {
    async fn start(pki: &Pki) -> Self {
        let dir = tempfile::tempdir().expect("cannot create a temp dir");
        let (cert, key) = pki.write_server_files(dir.path());
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--tls-cert-file")
            .arg(&cert)
            .arg("--tls-key-file")
            .arg(&key)
            .arg("--tls-ca-cert-file")
            .arg(pki.ca())
            .args(["--tls-auth-clients", "no", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is required for these tests (Debian package redis-server, built with TLS)");
        let mut server = Self { port, child, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            let exited = matches!(server.child.try_wait(), Ok(Some(_)));
            assert!(!exited && Instant::now() < deadline, "redis-server did not start with TLS");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    fn url(&self) -> RedisUrl {
        RedisUrl::parse(&format!("rediss://127.0.0.1:{}", self.port)).unwrap()
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds the application from `customise`d test settings, expecting it to
/// refuse; returns the whole error chain as one line.
async fn start_up_error(customise: impl FnOnce(&mut Config)) -> String {
    let dir = tempfile::tempdir().expect("cannot create a temp dir");
    let mut config = Config::for_tests(dir.path());
    customise(&mut config);
    let error = Application::build(config).await.expect_err("the start-up must fail");
    eprintln!("start-up refused: {error:#}");
    format!("{error:#}")
}

#[tokio::test]
async fn postgres_over_verified_tls_works_and_a_plain_connection_is_refused() {
    let pki = Pki::new();
    let postgres = PostgresServer::start(&pki).await;
    let url = postgres.url("verify-full", Some(&pki.ca()));
    let app = spawn_app_on(Backend::Sqlite, |config| config.database_url = url).await;
    assert_eq!(app.database.kind(), DatabaseKind::Postgres);

    // A real round trip: register, open a socket, publish, receive.
    let seller = app.register("tls").await;
    let mut socket = connect_to(&app.url("/"), json!({"token": seller.token}), Acks::ByEvent).await;
    let published = app.publish(&seller, "over TLS").await;
    let (_, pushed) = socket.next_within(Duration::from_secs(5)).await.expect("no push");
    assert_eq!(pushed["seq"], published["seq"]);

    // The server's own view: the app's connection is encrypted.
    let Database::Postgres(pool) = &app.database else { unreachable!() };
    let encrypted: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(encrypted);

    // verify-ca (the CA, not the name) and require (encrypted, unchecked,
    // as managed services often document) connect too.
    for url in [postgres.url("verify-ca", Some(&pki.ca())), postgres.url("require", None)] {
        let database = Database::connect(&url).await.unwrap_or_else(|e| panic!("{url:?}: {e:#}"));
        database.close().await;
    }
    // Without TLS, pg_hba.conf has no line for the connection.
    let error = Database::connect(&postgres.url("disable", None)).await.expect_err("a plain connection");
    let error = format!("{error:#}");
    assert!(error.contains("no pg_hba.conf entry") && error.contains("no encryption"), "{error}");
}

#[tokio::test]
async fn postgres_whose_certificate_does_not_verify_stops_the_start_up() {
    let pki = Pki::new();
    let postgres = PostgresServer::start(&pki).await;
    let other_ca = pki.other_ca();
    let url = postgres.url("verify-full", Some(&other_ca));
    let error = start_up_error(|config| config.database_url = url).await;
    let expected = format!(
        "PostgreSQL TLS: the server's certificate does not verify against sslrootcert {} \
         (and the built-in public roots); DATABASE_URL is postgres://postgres:***@127.0.0.1:",
        other_ca.display()
    );
    assert!(error.starts_with(&expected), "{error}");
    assert!(error.contains("invalid peer certificate"), "{error}");
    assert!(!error.contains("hunter2"), "the password must not be shown: {error}");

    // Without a root certificate of its own, the built-in public roots do
    // not know the test CA either.
    let url = postgres.url("verify-full", None);
    let error = start_up_error(|config| config.database_url = url).await;
    assert!(
        error.starts_with(
            "PostgreSQL TLS: the server's certificate does not verify against the built-in public roots"
        ),
        "{error}"
    );
}

/// An instance on `redis` trusting `ca_file`, on `shared`'s database when given.
async fn instance(redis: RedisUrl, ca_file: &CaFile, shared: Option<&TestApp>) -> TestApp {
    let database_url = shared.map(|app| app.database_url.clone());
    let ca_file = ca_file.clone();
    spawn_app_on(Backend::Sqlite, move |config| {
        config.redis.prefix = format!("tls-{}", redis.expose().rsplit(':').next().unwrap_or_default());
        config.redis.url = Some(redis);
        config.redis.ca_file = Some(ca_file);
        // Only the relay may bring the push across within the test's wait.
        config.delivery.retry.base = Duration::from_secs(60);
        if let Some(url) = database_url {
            config.database_url = url;
        }
    })
    .await
}

async fn health(app: &TestApp) -> Value {
    app.get("/api/health").await.json().await.unwrap()
}

async fn wait_for_redis(app: &TestApp, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = health(app).await;
        if body["redis"] == state {
            return body;
        }
        assert!(Instant::now() < deadline, "redis never became {state}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn redis_over_tls_carries_a_notification_from_one_instance_to_another() {
    let pki = Pki::new();
    let redis = TlsRedis::start(&pki).await;
    let ca_file = CaFile::read(&pki.ca()).unwrap();
    let a = instance(redis.url(), &ca_file, None).await;
    let b = instance(redis.url(), &ca_file, Some(&a)).await;
    let body = wait_for_redis(&a, "ok").await;
    assert_eq!(body["status"], "ok", "{body}");
    wait_for_redis(&b, "ok").await;

    let seller = a.register("tls").await;
    let mut on_a = connect_to(&a.url("/"), json!({"token": seller.token}), Acks::ByEvent).await;
    // Published through b: only Redis, over TLS (it has no plain port), can
    // bring it to the socket on a.
    let published = b.publish(&seller, "across TLS").await;
    let (_, pushed) = on_a.next_within(Duration::from_secs(5)).await.expect("no push across instances");
    assert_eq!(pushed["seq"], published["seq"]);
}

#[tokio::test]
async fn redis_whose_certificate_does_not_verify_stops_the_start_up_but_an_unreachable_one_does_not() {
    let pki = Pki::new();
    let redis = TlsRedis::start(&pki).await;
    let other_ca = CaFile::read(&pki.other_ca()).unwrap();
    let url = redis.url();
    let error = start_up_error(|config| {
        config.redis.url = Some(url);
        config.redis.ca_file = Some(other_ca);
    })
    .await;
    let expected = format!(
        "redis TLS: the server's certificate does not verify against REDIS_CA_FILE ({}): invalid peer certificate",
        pki.other_ca().display()
    );
    assert!(error.starts_with(&expected), "{error}");
    assert!(error.contains(&format!("REDIS_URL is rediss://127.0.0.1:{}", redis.port)), "{error}");

    let url = redis.url();
    let error = start_up_error(|config| config.redis.url = Some(url)).await;
    assert!(
        error.starts_with(
            "redis TLS: the server's certificate does not verify against the built-in public roots"
        ),
        "{error}"
    );

    // Nothing listening is an outage, not a setting to fix: degraded.
    let nowhere = RedisUrl::parse(&format!("rediss://127.0.0.1:{}", free_port())).unwrap();
    let ca_file = CaFile::read(&pki.ca()).unwrap();
    let app = instance(nowhere, &ca_file, None).await;
    let body = health(&app).await;
    assert_eq!((&body["status"], &body["redis"]), (&json!("degraded"), &json!("down")), "{body}");
}
