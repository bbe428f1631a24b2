//! The contract's HTTP endpoints this tool calls, one function each. They
//! return the status and JSON body as they came: what a status *means* for
//! the run (retry, reject, give up) is decided by the caller, because it
//! differs between setup (any failure stops the run) and publishing (the run
//! goes on through a rolling restart).

use crate::cli::IngestKey;
use anyhow::Context as _;
use reqwest::{RequestBuilder, header};
use serde_json::{Value, json};
use std::time::Duration;

/// One HTTP request's time limit. Long enough for a server under load, short
/// enough that a request to a dead instance is retried while it still matters.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// An answer from the server.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    /// `Retry-After` in seconds, on 429.
    pub(crate) retry_after: Option<Duration>,
    /// The JSON body; `None` when it could not be read or parsed (for a 201
    /// that means: stored, but which seq is unknown).
    pub(crate) body: Option<Value>,
}

impl Reply {
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// CONTRACT: errors are `{"error": "<code>", "message": "<text>"}`.
    pub(crate) fn error_code(&self) -> Option<&str> {
        self.body.as_ref()?.get("error")?.as_str()
    }

    /// The code and message, for an error report.
    pub(crate) fn describe(&self) -> String {
        let message = self.body.as_ref().and_then(|b| b.get("message")).and_then(Value::as_str);
        match (self.error_code(), message) {
            (Some(code), Some(message)) => format!("{} {code}: {message}", self.status),
            (Some(code), None) => format!("{} {code}", self.status),
            _ => format!("HTTP {}", self.status),
        }
    }
}

/// The server's HTTP API at one base URL.
#[derive(Debug)]
pub(crate) struct Api {
    http: reqwest::Client,
    /// Without a trailing slash.
    base: String,
    ingest_key: IngestKey,
}

impl Api {
    /// # Errors
    /// When the HTTP client cannot be built (no usable TLS or DNS setup).
    pub(crate) fn new(base: String, ingest_key: IngestKey) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("liveshop-load/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("failed to build the HTTP client")?;
        Ok(Self { http, base, ingest_key })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// CONTRACT: `POST /api/auth/register` → `201 {"token","seller"}`; `409` email taken.
    pub(crate) async fn register(
        &self,
        email: &str,
        password: &str,
        shop_name: &str,
    ) -> reqwest::Result<Reply> {
        let body = json!({"email": email, "password": password, "shop_name": shop_name});
        send(self.http.post(self.url("/api/auth/register")).json(&body)).await
    }

    /// CONTRACT: `POST /api/auth/login` → `200 {"token","seller"}`; `401` wrong credentials.
    pub(crate) async fn login(&self, email: &str, password: &str) -> reqwest::Result<Reply> {
        let body = json!({"email": email, "password": password});
        send(self.http.post(self.url("/api/auth/login")).json(&body)).await
    }

    /// CONTRACT: `GET /api/notifications/delta?after&limit` →
    /// `{"notifications": [...] ascending, "last_seq", "has_more"}`, where
    /// `last_seq` is the seller's newest seq overall.
    pub(crate) async fn delta(&self, token: &str, after: i64, limit: u32) -> reqwest::Result<Reply> {
        let url = self.url(&format!("/api/notifications/delta?after={after}&limit={limit}"));
        send(self.http.get(url).bearer_auth(token)).await
    }

    /// CONTRACT: `POST /api/notifications` with `X-Api-Key` → `201 {"notification"}`.
    pub(crate) async fn publish(&self, notification: &Value) -> reqwest::Result<Reply> {
        send(self.ingest(self.http.post(self.url("/api/notifications"))).json(notification)).await
    }

    /// CONTRACT: `POST /api/notifications/batch` with `X-Api-Key`, 1 to 500
    /// items → `201 {"notifications": [...]}` in request order, all or none.
    pub(crate) async fn publish_batch(&self, notifications: &[Value]) -> reqwest::Result<Reply> {
        let body = json!({ "notifications": notifications });
        send(self.ingest(self.http.post(self.url("/api/notifications/batch"))).json(&body)).await
    }

    fn ingest(&self, request: RequestBuilder) -> RequestBuilder {
        request.header("X-Api-Key", &self.ingest_key.0)
    }
}

async fn send(request: RequestBuilder) -> reqwest::Result<Reply> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = match response.bytes().await {
        Ok(bytes) => serde_json::from_slice(&bytes).ok(),
        Err(_) => None,
    };
    Ok(Reply { status, retry_after, body })
}
