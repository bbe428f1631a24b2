//! The server's settings (`Config::from_lookup`): arbitrary environments,
//! mostly of the variables it reads, with values drawn from real-looking
//! ones and arbitrary text.
//!
//! Properties: never panics; an error names the variable to fix, first, and
//! echoes no secret; an accepted configuration passes its own checks.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use server::config::{Config, ConfigError, CorsOrigins, DatabaseKind};
use std::collections::HashMap;
use std::time::Duration;

/// Every variable `Config::from_lookup` reads (server/src/config.rs).
const NAMES: [&str; 31] = [
    "APP_ENV",
    "LEPTOS_SITE_ADDR",
    "LEPTOS_RELOAD_PORT",
    "LEPTOS_ENV",
    "LEPTOS_OUTPUT_NAME",
    "LEPTOS_SITE_ROOT",
    "LEPTOS_SITE_PKG_DIR",
    "DATABASE_URL",
    "INSTANCE_ID",
    "RUST_LOG",
    "LOG_FORMAT",
    "PING_INTERVAL_MS",
    "PING_TIMEOUT_MS",
    "SOCKET_EVENTS_PER_SEC",
    "SOCKETS_PER_SELLER",
    "SOCKET_CONNECTS_PER_MIN",
    "SOCKET_LIMITS_EXEMPT",
    "ACK_TIMEOUT_MS",
    "RETRY_ATTEMPTS",
    "RETRY_BASE_MS",
    "LIVESHOP_TEST_FAULT",
    "JWT_SECRET",
    "JWT_TTL_S",
    "CORS_ORIGIN",
    "INGEST_API_KEY",
    "RATE_LIMIT_PER_MIN",
    "TRUSTED_PROXIES",
    "REDIS_URL",
    "REDIS_PREFIX",
    "REDIS_CA_FILE",
    "DRAIN_MS",
];

/// Values that reach the deeper branches (production rules, URL schemes,
/// network lists) far sooner than random text would.
const WORDS: [&str; 28] = [
    "production",
    "development",
    "PROD",
    "dev",
    "json",
    "text",
    "abort-after-commit",
    "*",
    "none",
    "0",
    "1",
    "20",
    "21",
    " 42 ",
    "18446744073709551616",
    "   ",
    "127.0.0.1:0",
    "[::1]:3001",
    "sqlite::memory:",
    "postgres://user:secret@db/x",
    "mysql://user:secret@db/x",
    "redis://:secret@cache:6379/0",
    "http://cache:6379",
    "https://a.example, http://localhost:3000/",
    "https://a.example/path",
    "10.0.0.0/8, 192.168.1.7 ,fd00::/8",
    "10.0.0.0/33",
    "a secret of at least thirty-two bytes",
];

#[derive(Arbitrary, Debug)]
enum Name {
    Known(u8),
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Setting {
    Word(u8),
    Number(i64),
    Text(String),
}

fuzz_target!(|settings: Vec<(Name, Setting)>| {
    // A later setting of the same name wins, as in a .env file.
    let vars: HashMap<String, String> = settings
        .into_iter()
        .map(|(name, value)| {
            let name = match name {
                Name::Known(i) => NAMES[usize::from(i) % NAMES.len()].to_owned(),
                Name::Other(name) => name,
            };
            let value = match value {
                Setting::Word(i) => WORDS[usize::from(i) % WORDS.len()].to_owned(),
                Setting::Number(n) => n.to_string(),
                Setting::Text(text) => text,
            };
            (name, value)
        })
        .collect();
    let result = Config::from_lookup(|name| vars.get(name).cloned());

    match &result {
        Err(error @ ConfigError::Invalid { var, value, .. }) => {
            // The message starts with the variable to fix (`VAR: reason`).
            assert!(NAMES.contains(var), "an error names an unknown variable: {error}");
            assert!(error.to_string().starts_with(&format!("{var}: ")), "{error}");
            // Secrets are never echoed: the JWT secret not at all, URLs with
            // their password replaced (`scheme://user:***@host`).
            if *var == "JWT_SECRET" {
                assert!(value.is_empty() || value == "***", "{error}");
            }
            // The credentials are what precedes the authority's last `@`
            // (the authority ends at the first `/`, `?` or `#`).
            if matches!(*var, "DATABASE_URL" | "REDIS_URL")
                && let Some((_, rest)) = value.split_once("://")
                && let Some((credentials, _)) =
                    rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())].rsplit_once('@')
            {
                let user = credentials.strip_suffix(":***");
                assert!(user.is_some_and(|user| !user.contains(':')), "{error}");
            }
        }
        Ok(config) => {
            // What it returns passes the cross-checks it runs itself.
            assert!(config.validate().is_ok());
            // `positive` refuses 0: every period is at least one unit.
            for period in [
                config.socket.ping_interval,
                config.socket.ping_timeout,
                config.delivery.ack_timeout,
                config.delivery.retry.base,
            ] {
                assert!(period >= Duration::from_millis(1));
            }
            assert!(config.security.jwt_ttl >= Duration::from_secs(1));
            assert!((1..=20).contains(&config.delivery.retry.attempts));
            // The database kind is read off the URL's scheme.
            let url = config.database_url.expose();
            match config.database_url.kind() {
                DatabaseKind::Sqlite => assert!(url.starts_with("sqlite:")),
                DatabaseKind::Postgres => {
                    assert!(url.starts_with("postgres://") || url.starts_with("postgresql://"));
                }
            }
            if let Some(redis) = &config.redis.url {
                assert!(redis.expose().starts_with("redis://") || redis.expose().starts_with("rediss://"));
            }
            if let CorsOrigins::List(origins) = &config.security.cors {
                for origin in origins {
                    let host = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
                    assert!(
                        host.is_some_and(|host| !host.is_empty() && !host.contains(['/', '*'])),
                        "{origin}"
                    );
                }
            }
        }
    }

    // The same settings, the same verdict: only the development JWT secret
    // (random) and the default instance id (host name) vary between calls.
    let again = Config::from_lookup(|name| vars.get(name).cloned());
    assert_eq!(result.err().map(|e| e.to_string()), again.err().map(|e| e.to_string()));
});
