//! The run's sellers: registered, or logged in when an earlier run with the
//! same `--seller-prefix` created them (same fixed password); their session
//! tokens; and their newest seq when the run starts, so sockets connect
//! after it and no earlier history is replayed.
//!
//! A token can die mid-run (a session ended, a restarted server with another
//! `JWT_SECRET`). Every socket of a seller shares the seller's token, so when
//! several sockets are refused `unauthorized` together only one of them logs
//! in again ([`Seller::refresh`]); the others pick up the new token.

use crate::api::{Api, Reply};
use crate::backoff::Backoff;
use crate::console;
use anyhow::{Context as _, bail};
use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use serde_json::Value;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// Every load seller's password: fixed, so a later run can log in.
pub(crate) const PASSWORD: &str = "load-password-1";

/// Register/login requests in flight during setup: the server hashes each
/// password with argon2, which is slow on purpose.
const SETUP_CONCURRENCY: usize = 8;

/// How long setup waits out the server's per-IP limit on register and login
/// (`RATE_LIMIT_PER_MIN`, default 60 a minute) before giving up.
const RATE_LIMIT_PATIENCE: Duration = Duration::from_secs(15 * 60);

/// Transport errors and 5xx answers retried during setup before giving up.
const SETUP_RETRIES: u32 = 5;

/// A session token and how many times it was replaced.
#[derive(Clone)]
struct Token {
    generation: u64,
    value: String,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token(generation {}, ***)", self.generation)
    }
}

/// One seller of the run.
#[derive(Debug)]
pub(crate) struct Seller {
    /// 0-based position in the run: notification `k` goes to seller `k mod N`.
    pub(crate) index: usize,
    pub(crate) id: i64,
    pub(crate) email: String,
    /// The seller's newest seq when the run started.
    pub(crate) start_seq: i64,
    token: Mutex<Token>,
    /// Held while logging in again, so concurrent refusals log in once.
    refreshing: tokio::sync::Mutex<()>,
}

impl Seller {
    /// The current token and its generation (pass it back to [`Self::refresh`]).
    pub(crate) fn token(&self) -> (u64, String) {
        let token = self.token.lock().unwrap_or_else(PoisonError::into_inner);
        (token.generation, token.value.clone())
    }

    /// Logs in again, unless the token has already been replaced since
    /// generation `seen` (another socket of this seller did it).
    ///
    /// # Errors
    /// When the login fails.
    pub(crate) async fn refresh(&self, api: &Api, seen: u64) -> anyhow::Result<()> {
        let _one_at_a_time = self.refreshing.lock().await;
        if self.token().0 != seen {
            return Ok(());
        }
        let (_, value) = login(api, &self.email).await?;
        let mut token = self.token.lock().unwrap_or_else(PoisonError::into_inner);
        *token = Token { generation: seen + 1, value };
        Ok(())
    }
}

/// The email of seller `index`.
pub(crate) fn email(prefix: &str, index: usize) -> String {
    format!("{prefix}-{index}@load.test")
}

/// Registers (or logs in) `count` sellers and reads where each one's log stands.
///
/// # Errors
/// The first seller that could not be signed in or read, with the reason.
pub(crate) async fn prepare(api: &Api, prefix: &str, count: usize) -> anyhow::Result<Vec<Arc<Seller>>> {
    stream::iter(0..count)
        .map(|index| prepare_one(api, prefix, index))
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await
}

async fn prepare_one(api: &Api, prefix: &str, index: usize) -> anyhow::Result<Arc<Seller>> {
    let email = email(prefix, index);
    let (id, token) = sign_in(api, &email, &format!("{prefix} load shop {index}"))
        .await
        .with_context(|| format!("failed to sign in seller {email}"))?;
    let start_seq =
        latest_seq(api, &token).await.with_context(|| format!("failed to read the last seq of {email}"))?;
    Ok(Arc::new(Seller {
        index,
        id,
        email,
        start_seq,
        token: Mutex::new(Token { generation: 0, value: token }),
        refreshing: tokio::sync::Mutex::new(()),
    }))
}

/// Registers, or logs in when the email is taken (CONTRACT: `409`).
async fn sign_in(api: &Api, email: &str, shop_name: &str) -> anyhow::Result<(i64, String)> {
    let reply = patiently(|| api.register(email, PASSWORD, shop_name)).await?;
    match reply.status {
        200 | 201 => session(&reply),
        409 => login(api, email).await,
        _ => bail!("register answered {}", reply.describe()),
    }
}

async fn login(api: &Api, email: &str) -> anyhow::Result<(i64, String)> {
    let reply = patiently(|| api.login(email, PASSWORD)).await?;
    match reply.status {
        200 | 201 => session(&reply),
        401 => bail!(
            "login refused ({}): {email} exists with another password; choose another --seller-prefix",
            reply.describe()
        ),
        _ => bail!("login answered {}", reply.describe()),
    }
}

/// CONTRACT: `{"token", "seller": {"id", …}}`.
fn session(reply: &Reply) -> anyhow::Result<(i64, String)> {
    let body = reply.body.as_ref().context("the answer has no JSON body")?;
    let token = body.get("token").and_then(Value::as_str).context("the answer has no token")?;
    let id = body.pointer("/seller/id").and_then(Value::as_i64).context("the answer has no seller.id")?;
    Ok((id, token.to_owned()))
}

/// CONTRACT: the delta answer's `last_seq` is the seller's newest seq overall.
async fn latest_seq(api: &Api, token: &str) -> anyhow::Result<i64> {
    let reply = patiently(|| api.delta(token, 0, 1)).await?;
    if !reply.is_success() {
        bail!("delta answered {}", reply.describe());
    }
    reply
        .body
        .as_ref()
        .and_then(|b| b.get("last_seq"))
        .and_then(Value::as_i64)
        .context("no last_seq in delta")
}

/// Sends a setup request until it gets an answer worth acting on: waits out
/// `429` (the register/login limit), retries 5xx and transport errors a few
/// times. Any other answer is returned as is.
async fn patiently<F, Fut>(mut call: F) -> anyhow::Result<Reply>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = reqwest::Result<Reply>>,
{
    /// Said once per run, not once per seller.
    static RATE_LIMIT_EXPLAINED: AtomicBool = AtomicBool::new(false);
    let started = Instant::now();
    let mut failures = 0;
    loop {
        match call().await {
            Ok(reply) if reply.status == 429 => {
                if started.elapsed() > RATE_LIMIT_PATIENCE {
                    bail!("still rate limited after {} s: {}", started.elapsed().as_secs(), reply.describe());
                }
                let wait = reply.retry_after.unwrap_or(Duration::from_secs(5)).min(Duration::from_secs(60));
                if !RATE_LIMIT_EXPLAINED.swap(true, Ordering::Relaxed) {
                    console::warn(format_args!(
                        "register/login is rate limited per client IP (RATE_LIMIT_PER_MIN); waiting it out \
                         ({} s now). For many sellers run the server with RATE_LIMIT_PER_MIN=0.",
                        wait.as_secs()
                    ));
                }
                tokio::time::sleep(wait).await;
            }
            Ok(reply) if reply.status >= 500 && failures < SETUP_RETRIES => {
                tokio::time::sleep(Backoff::QUICK.delay(failures)).await;
                failures += 1;
            }
            Ok(reply) => return Ok(reply),
            Err(_) if failures < SETUP_RETRIES => {
                tokio::time::sleep(Backoff::QUICK.delay(failures)).await;
                failures += 1;
            }
            Err(error) => return Err(error).context("the request failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn emails_are_stable_per_prefix_and_index() {
        assert_eq!(email("load", 0), "load-0@load.test");
        assert_eq!(email("run-b", 12), "run-b-12@load.test");
    }

    #[test]
    fn a_session_answer_gives_the_id_and_token() {
        let reply = Reply {
            status: 201,
            retry_after: None,
            body: Some(json!({"token": "t", "seller": {"id": 7, "email": "e", "shop_name": "s"}})),
        };
        assert_eq!(session(&reply).unwrap(), (7, "t".to_owned()));
        let broken = Reply { body: Some(json!({"token": "t"})), ..reply };
        assert!(session(&broken).is_err());
    }
}
