//! Typed configuration, read once at start-up from the environment (and
//! `.env`, loaded by `main`). No other module reads `std::env`.
//!
//! Every variable has its default next to its field. A bad value stops the
//! server with an error that names the variable; nothing is silently ignored.

use ipnet::IpNet;
use leptos::config::{Env, LeptosOptions};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A setting that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}: {reason} (got {value:?})")]
    Invalid { var: &'static str, value: String, reason: String },
}

impl ConfigError {
    fn invalid(var: &'static str, value: &str, reason: impl Into<String>) -> Self {
        Self::Invalid { var, value: value.to_owned(), reason: reason.into() }
    }
}

/// `APP_ENV`: how strict the server is about its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// `development` (default): convenient defaults allowed.
    Development,
    /// `production`: secure defaults are required.
    Production,
}

/// Which database `DATABASE_URL` points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

impl fmt::Display for DatabaseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        })
    }
}

/// `DATABASE_URL`, with its kind read off the scheme.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    kind: DatabaseKind,
    url: String,
    /// PostgreSQL: the URL's `sslrootcert`, checked readable at parse time.
    root_cert: Option<String>,
}

impl DatabaseUrl {
    /// Default: an SQLite file next to the working directory.
    pub const DEFAULT: &'static str = "sqlite://data/liveshop.db";

    /// Reads the scheme, and for PostgreSQL the TLS options sqlx will read
    /// (`sslmode`, `sslrootcert`), checking the CA file they name.
    ///
    /// # Errors
    /// When the scheme is neither `sqlite:` nor `postgres(ql)://`, or a
    /// PostgreSQL URL does not parse, names an unknown `sslmode`, or names an
    /// `sslrootcert` that is unreadable, holds no PEM certificate or would be
    /// ignored (no `sslmode=verify-ca` or `verify-full`).
    pub fn parse(url: &str) -> Result<Self, ConfigError> {
        let kind = if url.starts_with("sqlite:") {
            DatabaseKind::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            DatabaseKind::Postgres
        } else {
            return Err(ConfigError::invalid(
                "DATABASE_URL",
                &redact_url(url),
                "expected sqlite:… or postgres://…",
            ));
        };
        let root_cert = match kind {
            DatabaseKind::Sqlite => None,
            DatabaseKind::Postgres => postgres_root_cert(url)
                .map_err(|reason| ConfigError::invalid("DATABASE_URL", &redact_url(url), reason))?,
        };
        Ok(Self { kind, url: url.to_owned(), root_cert })
    }

    /// An SQLite file at `path`.
    pub fn sqlite_file(path: &Path) -> Self {
        Self { kind: DatabaseKind::Sqlite, url: format!("sqlite://{}", path.display()), root_cert: None }
    }

    /// PostgreSQL's `sslrootcert`: the CA file the server's certificate is
    /// checked against, besides the built-in public roots (for messages).
    pub fn root_cert(&self) -> Option<&str> {
        self.root_cert.as_deref()
    }

    pub fn kind(&self) -> DatabaseKind {
        self.kind
    }

    /// The full URL, password included: only for connecting.
    pub fn expose(&self) -> &str {
        &self.url
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.url))
    }
}

/// The `sslmode` values sqlx (like libpq) knows.
const SSL_MODES: [&str; 6] = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];

/// Checks the TLS options of a PostgreSQL URL under the names sqlx reads
/// (`sslmode`/`ssl-mode`, `sslrootcert`/`ssl-root-cert`/`ssl-ca`) and
/// returns the root certificate it names. sqlx reads that file only with
/// `verify-ca` or `verify-full` (unlike libpq, `require` with a root
/// certificate does not check the server's certificate), so a root
/// certificate with any other mode is refused rather than silently unused.
fn postgres_root_cert(url: &str) -> Result<Option<String>, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a valid URL: {e}"))?;
    let (mut mode, mut root_cert) = (None, None);
    for (key, value) in parsed.query_pairs() {
        match &*key {
            "sslmode" | "ssl-mode" => mode = Some(value.to_ascii_lowercase()),
            "sslrootcert" | "ssl-root-cert" | "ssl-ca" => root_cert = Some(value.into_owned()),
            _ => {}
        }
    }
    if let Some(mode) = &mode
        && !SSL_MODES.contains(&mode.as_str())
    {
        return Err(format!("sslmode={mode} is none of {}", SSL_MODES.join(", ")));
    }
    let Some(root_cert) = root_cert else { return Ok(None) };
    if !matches!(mode.as_deref(), Some("verify-ca" | "verify-full")) {
        return Err("sslrootcert is only read with sslmode=verify-full or sslmode=verify-ca; \
             with another sslmode the server's certificate is not checked at all"
            .into());
    }
    // sqlx takes PEM text in place of a path too.
    let inline = root_cert.trim_start().starts_with("-----BEGIN");
    if inline {
        check_certificates(root_cert.as_bytes()).map_err(|reason| format!("sslrootcert: {reason}"))?;
    } else {
        CaFile::read(Path::new(&root_cert)).map_err(|reason| format!("sslrootcert: {reason}"))?;
    }
    Ok(Some(if inline { "(PEM in the URL)".to_owned() } else { root_cert }))
}

/// A PEM bundle of CA certificates named by a setting (`REDIS_CA_FILE`),
/// read and checked once at start-up.
#[derive(Clone, PartialEq, Eq)]
pub struct CaFile {
    path: PathBuf,
    pem: Vec<u8>,
}

impl CaFile {
    /// Reads `path`: it must hold PEM certificates (`-----BEGIN
    /// CERTIFICATE-----`), at least one, each usable as a trust anchor.
    ///
    /// # Errors
    /// Why the file cannot be used, naming it.
    pub fn read(path: &Path) -> Result<Self, String> {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        check_certificates(&pem).map_err(|reason| format!("{}: {reason}", path.display()))?;
        Ok(Self { path: path.to_owned(), pem })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's PEM text.
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }
}

impl fmt::Debug for CaFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())
    }
}

/// Checks that `pem` holds at least one certificate and that each one
/// parses as a trust anchor; returns how many.
fn check_certificates(pem: &[u8]) -> Result<usize, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(pem) {
        let certificate = certificate.map_err(|e| format!("not a PEM file: {e}"))?;
        roots.add(certificate).map_err(|e| format!("holds a certificate that cannot be trusted: {e}"))?;
    }
    if roots.is_empty() {
        return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    Ok(roots.len())
}

/// Hides the password of `scheme://user:password@host/...`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The credentials end at the authority's last `@`, as URL parsers read
    // it: a password may hold an `@` of its own.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((credentials, _)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***{}", &rest[credentials.len()..])
        }
        None => url.to_owned(),
    }
}

/// Log output settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `RUST_LOG` filter (default `info`).
    pub filter: String,
    /// `LOG_FORMAT=json` for one JSON object per line (default: human text).
    pub json: bool,
}

/// Everything the server needs to start, in sections: each part of the
/// server takes only its own.
#[derive(Debug, Clone)]
pub struct Config {
    /// Leptos settings: `LEPTOS_SITE_ADDR` (default `127.0.0.1:3001`),
    /// `LEPTOS_SITE_ROOT` (default `target/site`), `LEPTOS_OUTPUT_NAME`
    /// (default `liveshop`), `LEPTOS_ENV`, `LEPTOS_RELOAD_PORT`.
    pub site: LeptosOptions,
    /// `APP_ENV`: `development` (default) or `production`.
    pub environment: Environment,
    /// `DATABASE_URL` (default `sqlite://data/liveshop.db`).
    pub database_url: DatabaseUrl,
    /// `INSTANCE_ID` (default `<hostname>-<pid>`): names this process in
    /// health answers and logs when several run behind one load balancer.
    pub instance: String,
    pub log: LogConfig,
    /// `DRAIN_MS` (default 10 000, at most 600 000; `0` disconnects every
    /// socket at once): on SIGTERM, the time over which this instance's
    /// sockets are disconnected, so their reconnects reach the other
    /// instances spread out instead of all in the same second. It must fit,
    /// with the shutdown grace, in the orchestrator's own grace period.
    pub drain_period: Duration,
    pub socket: SocketConfig,
    pub delivery: DeliveryConfig,
    pub security: SecurityConfig,
    pub redis: RedisConfig,
}

/// The Socket.IO endpoint (`gateway::layer`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketConfig {
    /// `PING_INTERVAL_MS` (default 25 000): Engine.IO heartbeat period.
    pub ping_interval: Duration,
    /// `PING_TIMEOUT_MS` (default 20 000): how long a ping may go unanswered.
    pub ping_timeout: Duration,
    /// `SOCKET_EVENTS_PER_SEC` (default 100, `0` disables): events one
    /// socket may send per second, with a burst of twice that, and 100 times
    /// as many seqs acknowledged by event; beyond, they are answered
    /// `rate_limited` and not handled.
    pub events_per_sec: u32,
    /// `SOCKETS_PER_SELLER` (default 100, `0` disables): sockets one seller
    /// may hold on this instance at once; one more is refused with
    /// `connect_error` `too_many_sockets`.
    pub sockets_per_seller: u32,
    /// `SOCKET_CONNECTS_PER_MIN` (default 300, `0` disables): new sockets
    /// one client IP may open on this instance per minute; beyond, refused
    /// with `connect_error` `rate_limited`, before the token is checked.
    pub connects_per_ip_per_min: u32,
    /// `SOCKET_LIMITS_EXEMPT` (default `127.0.0.0/8, ::1`, `none` for
    /// nobody): client addresses the two limits above do not apply to. By
    /// default the server's own machine: load tests and benchmarks hold
    /// thousands of one seller's sockets from it.
    pub limits_exempt: Networks,
}

/// Live delivery and its retries (`delivery::Delivery`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// `ACK_TIMEOUT_MS` (default 10 000): how long a pushed notification
    /// waits for the client's ack.
    pub ack_timeout: Duration,
    /// `RETRY_ATTEMPTS` / `RETRY_BASE_MS`: how unacknowledged pushes are retried.
    pub retry: RetryPolicy,
    /// `LIVESHOP_TEST_FAULT` (unset by default; refused in production): a
    /// crash point the crash tests make the real binary hit.
    pub fault: Option<Fault>,
}

/// A deliberate crash, for tests that prove nothing is lost across one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `abort-after-commit`: the process aborts right after a publish is
    /// committed, before anything is pushed.
    AbortAfterCommit,
}

/// Who may call what: sessions, browsers, publishers, request rates.
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// `JWT_SECRET`: signs session tokens (HS256). Required, at least 32
    /// bytes, in production; in development a random one is made at start
    /// (tokens then die with the process).
    pub jwt_secret: SecretString,
    /// `JWT_TTL_S` (default 604 800, 7 days): how long a session token lives.
    pub jwt_ttl: Duration,
    /// `CORS_ORIGIN`: comma-separated origins allowed to call the API from a
    /// browser, with credentials. Empty (default): same origin only. `*` (not
    /// in production): any origin, without credentials.
    pub cors: CorsOrigins,
    /// `INGEST_API_KEY`: the `X-Api-Key` other services publish with. Unset
    /// (default): ingest answers `503 ingest_disabled`.
    pub ingest_api_key: Option<SecretString>,
    /// `RATE_LIMIT_PER_MIN` (default 60, `0` disables): requests per minute per
    /// client IP on register, login and storefront orders.
    pub rate_limit_per_min: u32,
    /// `TRUSTED_PROXIES` (default: none): the proxies (load balancers) whose
    /// `X-Forwarded-For` is believed, as addresses or CIDRs. The client IP
    /// of rate limits and logs is the first address, from the right, that
    /// is not one of them (`client_ip`).
    pub trusted_proxies: Networks,
}

/// Redis, the bus between instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `REDIS_URL`: the bus between instances (the relay that carries new
    /// notifications to every instance's sockets, and the Socket.IO Redis
    /// adapter for rooms and disconnects). Unset (default): one instance,
    /// in-process adapter.
    pub url: Option<RedisUrl>,
    /// `REDIS_PREFIX` (default `liveshop`): starts every Redis channel name,
    /// so deployments (or test runs) sharing one Redis never hear each other.
    pub prefix: String,
    /// `REDIS_CA_FILE` (unset by default: the built-in public roots): a PEM
    /// bundle of the CAs a `rediss://` server's certificate is checked
    /// against, instead of the built-in roots. Only with `rediss://`.
    pub ca_file: Option<CaFile>,
}

/// How a notification nobody acknowledged is pushed again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// `RETRY_ATTEMPTS` (default 3, at most 20): pushes in all, the first
    /// included, before the notification is marked failed.
    pub attempts: u32,
    /// `RETRY_BASE_MS` (default 1 000): the wait after the first unanswered
    /// push; it doubles after each further one (with jitter).
    pub base: Duration,
}

impl Config {
    /// A drain longer than this is a mistake: no orchestrator waits that long.
    const MAX_DRAIN_MS: u64 = 600_000;
}

impl RetryPolicy {
    /// Sane bound: 20 doublings of even 1 ms is already a quarter of an hour.
    const MAX_ATTEMPTS: u64 = 20;
}

/// `REDIS_URL`, checked for its scheme; its password is redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// # Errors
    /// A URL that is not `redis://…` or `rediss://…`.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        let value = value.trim();
        if value.starts_with("redis://") || value.starts_with("rediss://") {
            Ok(Self(value.to_owned()))
        } else {
            Err(ConfigError::invalid("REDIS_URL", &redact_url(value), "expected redis://host[:port][/db]"))
        }
    }

    /// The URL, password included: only for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the URL asks for TLS (`rediss://`).
    pub fn is_tls(&self) -> bool {
        self.0.starts_with("rediss://")
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

/// A list of networks, as a setting: `10.0.0.0/8, 192.168.1.7, ::1` (an
/// address alone is a network of one). `none` is the empty list, which a
/// blank value cannot say (blank means the default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Networks(Vec<IpNet>);

impl Networks {
    /// # Errors
    /// An entry that is neither an IP address nor a CIDR.
    pub fn parse(var: &'static str, value: &str) -> Result<Self, ConfigError> {
        if value.trim().eq_ignore_ascii_case("none") {
            return Ok(Self::default());
        }
        let parse_one = |entry: &str| {
            entry.parse::<IpNet>().or_else(|_| entry.parse::<IpAddr>().map(IpNet::from)).map_err(|_| {
                ConfigError::invalid(
                    var,
                    entry,
                    "each entry must be an IP address or a CIDR such as 10.0.0.0/8",
                )
            })
        };
        value
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(parse_one)
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether `ip` is in one of the networks (an IPv4-mapped IPv6 address
    /// counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|network| network.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `CORS_ORIGIN`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// No cross-origin access (no CORS headers at all).
    None,
    /// Any origin, never with credentials. Refused in production.
    Any,
    /// Exactly these origins (`scheme://host[:port]`), with credentials.
    List(Vec<String>),
}

impl CorsOrigins {
    /// # Errors
    /// An entry that is not `http(s)://host[:port]` with nothing after it.
    pub fn parse(value: Option<&str>) -> Result<Self, ConfigError> {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(Self::None) };
        if value == "*" {
            return Ok(Self::Any);
        }
        let mut origins = Vec::new();
        for origin in value.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let origin = origin.trim_end_matches('/');
            let valid = origin.split_once("://").is_some_and(|(scheme, host)| {
                matches!(scheme, "http" | "https")
                    && !host.is_empty()
                    && !host.contains('/')
                    && !host.contains('*')
            });
            if !valid {
                return Err(ConfigError::invalid(
                    "CORS_ORIGIN",
                    origin,
                    "each origin must be http(s)://host[:port]",
                ));
            }
            origins.push(origin.to_owned());
        }
        Ok(Self::List(origins))
    }
}

impl Config {
    /// Reads the process environment.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first variable that cannot be used.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the process
    /// environment.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first variable that cannot be used.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let environment = match get("APP_ENV").as_deref() {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(other) => {
                return Err(ConfigError::invalid("APP_ENV", other, "expected development or production"));
            }
        };

        let site_addr = parse_or("LEPTOS_SITE_ADDR", get("LEPTOS_SITE_ADDR"), "127.0.0.1:3001", |v| {
            v.parse::<SocketAddr>().map_err(|e| e.to_string())
        })?;
        let reload_port = parse_or("LEPTOS_RELOAD_PORT", get("LEPTOS_RELOAD_PORT"), "3011", |v| {
            v.parse::<u32>().map_err(|e| e.to_string())
        })?;
        let leptos_env = match get("LEPTOS_ENV").as_deref() {
            None => Env::DEV,
            Some(v) if v.eq_ignore_ascii_case("dev") || v.eq_ignore_ascii_case("development") => Env::DEV,
            Some(v) if v.eq_ignore_ascii_case("prod") || v.eq_ignore_ascii_case("production") => Env::PROD,
            Some(other) => {
                return Err(ConfigError::invalid("LEPTOS_ENV", other, "expected DEV or PROD"));
            }
        };
        let site = LeptosOptions::builder()
            .output_name(get("LEPTOS_OUTPUT_NAME").unwrap_or_else(|| "liveshop".into()))
            .site_root(get("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".into()))
            .site_pkg_dir(get("LEPTOS_SITE_PKG_DIR").unwrap_or_else(|| "pkg".into()))
            .site_addr(site_addr)
            .reload_port(reload_port)
            .env(leptos_env)
            .build();

        let config = Self {
            site,
            environment,
            database_url: DatabaseUrl::parse(
                &get("DATABASE_URL").unwrap_or_else(|| DatabaseUrl::DEFAULT.into()),
            )?,
            instance: get("INSTANCE_ID").unwrap_or_else(default_instance),
            log: LogConfig {
                filter: get("RUST_LOG").unwrap_or_else(|| "info".into()),
                json: match get("LOG_FORMAT").as_deref() {
                    None | Some("text") => false,
                    Some("json") => true,
                    Some(other) => {
                        return Err(ConfigError::invalid("LOG_FORMAT", other, "expected text or json"));
                    }
                },
            },
            drain_period: Duration::from_millis(parse_or("DRAIN_MS", get("DRAIN_MS"), "10000", |v| {
                v.trim().parse::<u64>().map_err(|e| e.to_string())
            })?),
            socket: SocketConfig {
                ping_interval: millis("PING_INTERVAL_MS", get("PING_INTERVAL_MS"), 25_000)?,
                ping_timeout: millis("PING_TIMEOUT_MS", get("PING_TIMEOUT_MS"), 20_000)?,
                events_per_sec: parse_or(
                    "SOCKET_EVENTS_PER_SEC",
                    get("SOCKET_EVENTS_PER_SEC"),
                    "100",
                    |v| v.trim().parse::<u32>().map_err(|e| e.to_string()),
                )?,
                sockets_per_seller: parse_or("SOCKETS_PER_SELLER", get("SOCKETS_PER_SELLER"), "100", |v| {
                    v.trim().parse::<u32>().map_err(|e| e.to_string())
                })?,
                connects_per_ip_per_min: parse_or(
                    "SOCKET_CONNECTS_PER_MIN",
                    get("SOCKET_CONNECTS_PER_MIN"),
                    "300",
                    |v| v.trim().parse::<u32>().map_err(|e| e.to_string()),
                )?,
                limits_exempt: Networks::parse(
                    "SOCKET_LIMITS_EXEMPT",
                    get("SOCKET_LIMITS_EXEMPT").as_deref().unwrap_or("127.0.0.0/8, ::1"),
                )?,
            },
            delivery: DeliveryConfig {
                ack_timeout: millis("ACK_TIMEOUT_MS", get("ACK_TIMEOUT_MS"), 10_000)?,
                retry: RetryPolicy {
                    attempts: u32::try_from(positive("RETRY_ATTEMPTS", get("RETRY_ATTEMPTS"), 3)?)
                        .unwrap_or(u32::MAX),
                    base: millis("RETRY_BASE_MS", get("RETRY_BASE_MS"), 1_000)?,
                },
                fault: match get("LIVESHOP_TEST_FAULT").as_deref() {
                    None => None,
                    Some("abort-after-commit") => Some(Fault::AbortAfterCommit),
                    Some(other) => {
                        return Err(ConfigError::invalid(
                            "LIVESHOP_TEST_FAULT",
                            other,
                            "expected abort-after-commit",
                        ));
                    }
                },
            },
            security: SecurityConfig {
                jwt_secret: match get("JWT_SECRET") {
                    Some(secret) => SecretString::from(secret),
                    None if environment == Environment::Production => {
                        return Err(ConfigError::invalid(
                            "JWT_SECRET",
                            "",
                            "is required in production (at least 32 bytes)",
                        ));
                    }
                    None => SecretString::from(random_secret()),
                },
                jwt_ttl: Duration::from_secs(positive("JWT_TTL_S", get("JWT_TTL_S"), 7 * 24 * 3600)?),
                cors: CorsOrigins::parse(get("CORS_ORIGIN").as_deref())?,
                ingest_api_key: get("INGEST_API_KEY").map(SecretString::from),
                rate_limit_per_min: parse_or("RATE_LIMIT_PER_MIN", get("RATE_LIMIT_PER_MIN"), "60", |v| {
                    v.trim().parse::<u32>().map_err(|e| e.to_string())
                })?,
                trusted_proxies: Networks::parse(
                    "TRUSTED_PROXIES",
                    get("TRUSTED_PROXIES").as_deref().unwrap_or("none"),
                )?,
            },
            redis: RedisConfig {
                url: get("REDIS_URL").as_deref().map(RedisUrl::parse).transpose()?,
                prefix: get("REDIS_PREFIX").unwrap_or_else(|| "liveshop".into()),
                ca_file: get("REDIS_CA_FILE")
                    .map(|path| {
                        CaFile::read(Path::new(path.trim()))
                            .map_err(|reason| ConfigError::invalid("REDIS_CA_FILE", &path, reason))
                    })
                    .transpose()?,
            },
        };
        config.validate()?;
        Ok(config)
    }

    /// The rules that tie settings together.
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable that breaks a rule.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let production = self.is_production();
        if production && self.security.jwt_secret.expose_secret().len() < 32 {
            return Err(ConfigError::invalid("JWT_SECRET", "***", "must be at least 32 bytes in production"));
        }
        if production && self.security.cors == CorsOrigins::Any {
            return Err(ConfigError::invalid(
                "CORS_ORIGIN",
                "*",
                "a wildcard origin is refused in production",
            ));
        }
        if production && self.delivery.fault.is_some() {
            return Err(ConfigError::invalid("LIVESHOP_TEST_FAULT", "set", "is refused in production"));
        }
        let attempts = self.delivery.retry.attempts;
        if u64::from(attempts) > RetryPolicy::MAX_ATTEMPTS {
            return Err(ConfigError::invalid(
                "RETRY_ATTEMPTS",
                &attempts.to_string(),
                format!("must be at most {}", RetryPolicy::MAX_ATTEMPTS),
            ));
        }
        if let Some(ca_file) = &self.redis.ca_file
            && !self.redis.url.as_ref().is_some_and(RedisUrl::is_tls)
        {
            return Err(ConfigError::invalid(
                "REDIS_CA_FILE",
                &ca_file.path().display().to_string(),
                "is only used with a rediss:// REDIS_URL (TLS)",
            ));
        }
        let drain_ms = self.drain_period.as_millis();
        if drain_ms > u128::from(Self::MAX_DRAIN_MS) {
            return Err(ConfigError::invalid(
                "DRAIN_MS",
                &drain_ms.to_string(),
                format!("must be at most {} (10 minutes)", Self::MAX_DRAIN_MS),
            ));
        }
        Ok(())
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    /// A configuration for tests: SQLite in `dir`, an ephemeral port, quiet
    /// logs. Tests adjust fields directly instead of setting variables.
    pub fn for_tests(dir: &Path) -> Self {
        let mut config = Self::from_lookup(|_| None).expect("BUG: defaults must be valid");
        config.site.site_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config.database_url = DatabaseUrl::sqlite_file(&dir.join("liveshop.db"));
        config.instance = "test".into();
        config.security.jwt_secret = SecretString::from("test secret, at least 32 bytes long".to_owned());
        config.security.ingest_api_key = Some(SecretString::from("test-ingest-key".to_owned()));
        config.security.rate_limit_per_min = 0;
        config
    }

    /// Logs the effective configuration, secrets redacted.
    pub fn log_effective(&self) {
        tracing::info!(
            site_addr = %self.site.site_addr,
            site_root = %self.site.site_root,
            environment = ?self.environment,
            database = ?self.database_url,
            store = %self.database_url.kind(),
            ping_interval_ms = self.socket.ping_interval.as_millis(),
            ping_timeout_ms = self.socket.ping_timeout.as_millis(),
            socket_events_per_sec = self.socket.events_per_sec,
            sockets_per_seller = self.socket.sockets_per_seller,
            socket_connects_per_min = self.socket.connects_per_ip_per_min,
            socket_limits_exempt = ?self.socket.limits_exempt,
            trusted_proxies = ?self.security.trusted_proxies,
            instance = %self.instance,
            drain_ms = self.drain_period.as_millis(),
            jwt_secret = "***",
            jwt_ttl_s = self.security.jwt_ttl.as_secs(),
            cors = ?self.security.cors,
            ingest = if self.security.ingest_api_key.is_some() { "enabled (key ***)" } else { "disabled" },
            rate_limit_per_min = self.security.rate_limit_per_min,
            ack_timeout_ms = self.delivery.ack_timeout.as_millis(),
            retry_attempts = self.delivery.retry.attempts,
            retry_base_ms = self.delivery.retry.base.as_millis(),
            test_fault = ?self.delivery.fault,
            redis = ?self.redis.url,
            redis_prefix = %self.redis.prefix,
            redis_ca_file = ?self.redis.ca_file,
            "effective configuration"
        );
    }
}

fn parse_or<T>(
    var: &'static str,
    value: Option<String>,
    default: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    let value = value.unwrap_or_else(|| default.to_owned());
    parse(&value).map_err(|reason| ConfigError::invalid(var, &value, reason))
}

/// A positive number of milliseconds.
fn millis(var: &'static str, value: Option<String>, default: u64) -> Result<Duration, ConfigError> {
    positive(var, value, default).map(Duration::from_millis)
}

/// A positive whole number.
fn positive(var: &'static str, value: Option<String>, default: u64) -> Result<u64, ConfigError> {
    let Some(value) = value else { return Ok(default) };
    match value.trim().parse::<u64>() {
        Ok(0) => Err(ConfigError::invalid(var, &value, "must be at least 1")),
        Ok(n) => Ok(n),
        Err(e) => Err(ConfigError::invalid(var, &value, e.to_string())),
    }
}

/// 32 random bytes, hex: the development JWT secret.
fn random_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn default_instance() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config_from(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> =
            vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_serve_sqlite_on_port_3001() {
        let config = config_from(&[]).unwrap();
        assert_eq!(config.site.site_addr, "127.0.0.1:3001".parse().unwrap());
        assert_eq!(config.database_url.kind(), DatabaseKind::Sqlite);
        assert_eq!(config.database_url.expose(), "sqlite://data/liveshop.db");
        assert_eq!(config.socket.ping_interval, Duration::from_secs(25));
        assert_eq!(config.environment, Environment::Development);
        assert_eq!(&*config.site.output_name, "liveshop");
    }

    #[test]
    fn postgres_url_selects_postgres() {
        let config = config_from(&[("DATABASE_URL", "postgres://u:p@127.0.0.1/db")]).unwrap();
        assert_eq!(config.database_url.kind(), DatabaseKind::Postgres);
    }

    #[test]
    fn a_password_with_an_at_sign_is_redacted_whole() {
        let config = config_from(&[("DATABASE_URL", "postgres://user:p@ss@db/x")]).unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("ss@"), "{shown}");
        assert!(shown.contains("postgres://user:***@db/x"), "{shown}");
    }

    #[test]
    fn database_password_never_reaches_debug_output() {
        let config = config_from(&[("DATABASE_URL", "postgres://user:hunter2@db/x")]).unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://user:***@db/x"), "{shown}");
    }

    #[test]
    fn errors_name_the_variable() {
        for (var, value) in [
            ("DATABASE_URL", "mysql://x"),
            ("LEPTOS_SITE_ADDR", "nowhere"),
            ("PING_INTERVAL_MS", "soon"),
            ("PING_TIMEOUT_MS", "0"),
            ("ACK_TIMEOUT_MS", "later"),
            ("APP_ENV", "staging"),
            ("LOG_FORMAT", "xml"),
            ("RATE_LIMIT_PER_MIN", "-1"),
            ("JWT_TTL_S", "0"),
            ("RETRY_ATTEMPTS", "0"),
            ("RETRY_ATTEMPTS", "21"),
            ("RETRY_BASE_MS", "fast"),
            ("REDIS_URL", "http://cache:6379"),
            ("LIVESHOP_TEST_FAULT", "explode"),
            ("SOCKETS_PER_SELLER", "many"),
            ("SOCKET_CONNECTS_PER_MIN", "-5"),
            ("SOCKET_LIMITS_EXEMPT", "localhost"),
            ("TRUSTED_PROXIES", "10.0.0.0/33"),
            ("DRAIN_MS", "soon"),
            ("DRAIN_MS", "-1"),
            ("DRAIN_MS", "600001"),
        ] {
            let err = config_from(&[(var, value)]).unwrap_err().to_string();
            assert!(err.starts_with(var), "{var}: {err}");
        }
    }

    #[test]
    fn production_requires_a_long_jwt_secret() {
        let err = config_from(&[("APP_ENV", "production")]).unwrap_err().to_string();
        assert!(err.starts_with("JWT_SECRET"), "{err}");
        let err = config_from(&[("APP_ENV", "production"), ("JWT_SECRET", "short")]).unwrap_err().to_string();
        assert!(err.starts_with("JWT_SECRET"), "{err}");
        assert!(!err.contains("short"), "the secret must not be echoed: {err}");
        let ok = config_from(&[("APP_ENV", "production"), ("JWT_SECRET", &"s".repeat(32))]).unwrap();
        assert!(ok.is_production());
    }

    #[test]
    fn production_refuses_a_wildcard_cors_origin() {
        let vars = [("APP_ENV", "production"), ("JWT_SECRET", &*"s".repeat(32)), ("CORS_ORIGIN", "*")];
        let err = config_from(&vars).unwrap_err().to_string();
        assert!(err.starts_with("CORS_ORIGIN"), "{err}");
        assert_eq!(config_from(&[("CORS_ORIGIN", "*")]).unwrap().security.cors, CorsOrigins::Any);
    }

    #[test]
    fn production_refuses_a_test_fault() {
        let vars = [
            ("APP_ENV", "production"),
            ("JWT_SECRET", &*"s".repeat(32)),
            ("LIVESHOP_TEST_FAULT", "abort-after-commit"),
        ];
        let err = config_from(&vars).unwrap_err().to_string();
        assert!(err.starts_with("LIVESHOP_TEST_FAULT"), "{err}");
        let config = config_from(&[("LIVESHOP_TEST_FAULT", "abort-after-commit")]).unwrap();
        assert_eq!(config.delivery.fault, Some(Fault::AbortAfterCommit));
        assert_eq!(config_from(&[]).unwrap().delivery.fault, None);
    }

    #[test]
    fn cors_origins_are_a_checked_list() {
        let config = config_from(&[("CORS_ORIGIN", "https://a.example, http://localhost:3000/")]).unwrap();
        assert_eq!(
            config.security.cors,
            CorsOrigins::List(vec!["https://a.example".into(), "http://localhost:3000".into()])
        );
        assert!(config_from(&[("CORS_ORIGIN", "a.example")]).is_err());
        assert!(config_from(&[("CORS_ORIGIN", "https://a.example/path")]).is_err());
        assert_eq!(config_from(&[]).unwrap().security.cors, CorsOrigins::None);
    }

    #[test]
    fn development_makes_a_random_jwt_secret() {
        let a = config_from(&[]).unwrap();
        let b = config_from(&[]).unwrap();
        assert_eq!(a.security.jwt_secret.expose_secret().len(), 64);
        assert_ne!(a.security.jwt_secret.expose_secret(), b.security.jwt_secret.expose_secret());
    }

    #[test]
    fn retry_defaults_to_three_attempts_from_one_second() {
        let config = config_from(&[]).unwrap();
        assert_eq!(config.delivery.retry, RetryPolicy { attempts: 3, base: Duration::from_secs(1) });
        let config = config_from(&[("RETRY_ATTEMPTS", "5"), ("RETRY_BASE_MS", "250")]).unwrap();
        assert_eq!(config.delivery.retry, RetryPolicy { attempts: 5, base: Duration::from_millis(250) });
    }

    #[test]
    fn drain_defaults_to_ten_seconds_and_zero_means_at_once() {
        assert_eq!(config_from(&[]).unwrap().drain_period, Duration::from_secs(10));
        assert_eq!(config_from(&[("DRAIN_MS", "0")]).unwrap().drain_period, Duration::ZERO);
        assert_eq!(config_from(&[("DRAIN_MS", "600000")]).unwrap().drain_period, Duration::from_secs(600));
    }

    #[test]
    fn redis_password_never_reaches_debug_output() {
        let config = config_from(&[("REDIS_URL", "redis://:hunter2@cache:6379/0")]).unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(config.redis.url.unwrap().expose(), "redis://:hunter2@cache:6379/0");
        assert_eq!(config_from(&[]).unwrap().redis.url, None);
    }

    #[test]
    fn networks_are_addresses_or_cidrs_and_none_is_empty() {
        let config = config_from(&[("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7 ,fd00::/8")]).unwrap();
        let proxies = &config.security.trusted_proxies;
        for inside in ["10.1.2.3", "192.168.1.7", "fd00::1", "::ffff:10.9.9.9"] {
            assert!(proxies.contains(inside.parse().unwrap()), "{inside}");
        }
        for outside in ["11.0.0.1", "192.168.1.8", "fe80::1", "127.0.0.1"] {
            assert!(!proxies.contains(outside.parse().unwrap()), "{outside}");
        }
        let defaults = config_from(&[]).unwrap();
        assert!(defaults.security.trusted_proxies.is_empty(), "nobody is trusted by default");
        let exempt = &defaults.socket.limits_exempt;
        assert!(exempt.contains("127.0.0.1".parse().unwrap()) && exempt.contains("::1".parse().unwrap()));
        assert!(!exempt.contains("10.0.0.1".parse().unwrap()));
        let none = config_from(&[("SOCKET_LIMITS_EXEMPT", "none")]).unwrap();
        assert!(none.socket.limits_exempt.is_empty());
    }

    /// A directory holding `ca.pem`, a self-signed CA certificate.
    fn ca_file() -> (tempfile::TempDir, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, params.self_signed(&key).unwrap().pem()).unwrap();
        (dir, path.display().to_string())
    }

    #[test]
    fn redis_ca_file_is_read_and_only_taken_with_rediss() {
        let (_dir, ca) = ca_file();
        let config =
            config_from(&[("REDIS_URL", "rediss://:hunter2@cache:6380"), ("REDIS_CA_FILE", &ca)]).unwrap();
        let ca_file = config.redis.ca_file.as_ref().unwrap();
        assert_eq!(ca_file.path(), Path::new(&ca));
        assert!(ca_file.pem().starts_with(b"-----BEGIN CERTIFICATE-----"));
        assert!(format!("{config:?}").contains(&ca), "the path is logged, not the PEM");
        for vars in
            [vec![("REDIS_CA_FILE", &*ca)], vec![("REDIS_URL", "redis://cache:6379"), ("REDIS_CA_FILE", &ca)]]
        {
            let err = config_from(&vars).unwrap_err().to_string();
            assert!(err.starts_with("REDIS_CA_FILE: is only used with a rediss://"), "{err}");
        }
    }

    #[test]
    fn a_missing_or_empty_redis_ca_file_is_refused() {
        let (dir, _) = ca_file();
        let missing = dir.path().join("missing.pem").display().to_string();
        let err = config_from(&[("REDIS_URL", "rediss://cache"), ("REDIS_CA_FILE", &missing)]).unwrap_err();
        assert!(err.to_string().starts_with("REDIS_CA_FILE: cannot read"), "{err}");
        let not_pem = dir.path().join("key.txt");
        std::fs::write(&not_pem, "not a certificate").unwrap();
        let err = config_from(&[
            ("REDIS_URL", "rediss://cache"),
            ("REDIS_CA_FILE", &not_pem.display().to_string()),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("REDIS_CA_FILE") && err.contains("holds no PEM certificate"), "{err}");
    }

    #[test]
    fn postgres_sslrootcert_must_be_readable_and_checked_against() {
        let (dir, ca) = ca_file();
        let url = format!("postgres://u:hunter2@db/x?sslmode=verify-full&sslrootcert={ca}");
        let config = config_from(&[("DATABASE_URL", &url)]).unwrap();
        assert_eq!(config.database_url.root_cert(), Some(&*ca));
        assert_eq!(config.database_url.expose(), url, "the URL reaches sqlx whole");

        let missing = dir.path().join("missing.pem").display().to_string();
        let refused = [
            format!("postgres://u:hunter2@db/x?sslmode=verify-full&sslrootcert={missing}"),
            format!("postgres://u:hunter2@db/x?sslmode=verify-ca&ssl-root-cert={missing}"),
            format!("postgres://u:hunter2@db/x?sslmode=require&sslrootcert={ca}"),
            format!("postgres://u:hunter2@db/x?sslrootcert={ca}"),
            "postgres://u:hunter2@db/x?sslmode=verify-everything".to_owned(),
        ];
        for url in refused {
            let err = config_from(&[("DATABASE_URL", &url)]).unwrap_err().to_string();
            assert!(err.starts_with("DATABASE_URL: ssl"), "{url}: {err}");
            assert!(!err.contains("hunter2"), "the password must not be echoed: {err}");
        }
        let err = config_from(&[(
            "DATABASE_URL",
            &format!("postgres://u:hunter2@db/x?sslmode=verify-full&sslrootcert={missing}"),
        )])
        .unwrap_err()
        .to_string();
        assert!(err.contains("cannot read") && err.contains("missing.pem"), "{err}");
        for plain in
            ["postgres://u:p@db/x?sslmode=require", "postgres://u:p@db/x?sslmode=disable", "postgres://db/x"]
        {
            assert_eq!(config_from(&[("DATABASE_URL", plain)]).unwrap().database_url.root_cert(), None);
        }
    }

    #[test]
    fn blank_values_mean_default() {
        let config = config_from(&[("PING_INTERVAL_MS", "  "), ("DATABASE_URL", "")]).unwrap();
        assert_eq!(config.socket.ping_interval, Duration::from_secs(25));
        assert_eq!(config.database_url.kind(), DatabaseKind::Sqlite);
    }
}
