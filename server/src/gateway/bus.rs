//! The pub/sub bus under the Socket.IO Redis adapter, so a push reaches a
//! seller's sockets on every instance.
//!
//! Without `REDIS_URL` the bus is off and every emit is local. With it, the
//! bus talks to Redis through a [`ConnectionManager`] (RESP3 push messages,
//! automatic reconnect and resubscription). The stock driver of
//! socketioxide-redis neither survives a Redis restart nor starts without
//! Redis; this one does both:
//! - Redis unreachable at start-up: the server starts anyway (degraded), and
//!   a background task keeps connecting; subscriptions asked for meanwhile are
//!   remembered and made once connected.
//! - Redis lost later: publishes fail and trip a breaker, so for a while
//!   nothing waits on Redis; pushes to this instance's sockets never do.
//!
//! `rediss://` connects with TLS (rustls), checking the server's
//! certificate against `REDIS_CA_FILE` or else the built-in public roots. A
//! certificate that does not verify is a configuration error, not an outage:
//! on the first attempt it stops the start-up; later (Redis came up with
//! another certificate) it is logged as an error on every retry round, at
//! most every [`CERTIFICATE_ERROR_EVERY`], while the bus stays degraded.

use crate::config::{RedisConfig, RedisUrl};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, AsyncConnectionConfig, PushInfo, PushKind, TlsCertificates, Value};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Between connection attempts while Redis is unreachable at start-up.
const CONNECT_RETRY: Duration = Duration::from_secs(1);
/// After a failed publish, emits stay local this long before Redis is tried
/// again, so an outage does not cost every emit a timeout.
const BREAKER_OPEN: Duration = Duration::from_secs(2);
/// A Redis answer slower than this counts as a failure.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// While the server's certificate does not verify, the error is logged at
/// most this often.
const CERTIFICATE_ERROR_EVERY: Duration = Duration::from_secs(30);

/// Why the bus refused.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("redis is not connected")]
    NotConnected,
    #[error("redis did not answer in time")]
    Timeout,
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
}

/// Why the bus could not start: both are settings to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid REDIS_URL {url:?}")]
    Client {
        url: RedisUrl,
        #[source]
        error: redis::RedisError,
    },
    #[error(
        "redis TLS: the server's certificate does not verify against {trust}: {cause}; REDIS_URL is {url:?}"
    )]
    Certificate { trust: String, cause: String, url: RedisUrl },
}

/// Channel name → the adapter's receiver for it.
type Handlers = Arc<RwLock<HashMap<String, mpsc::Sender<ChanItem>>>>;

/// Cheap to clone; clones share the connection and the subscriptions.
#[derive(Clone, Default)]
pub struct Bus {
    redis: Option<Arc<RedisBus>>,
    /// `REDIS_PREFIX`: starts every channel name.
    prefix: Arc<str>,
}

struct RedisBus {
    handlers: Handlers,
    connection: RwLock<Option<ConnectionManager>>,
    /// Set after a failure: until then, callers should emit locally.
    breaker: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.redis.is_some() { "Bus(redis)" } else { "Bus(off)" })
    }
}

impl Bus {
    /// No Redis: the in-process adapter behaviour.
    pub fn off() -> Self {
        Self::default()
    }

    /// Off without `REDIS_URL`. Else tries Redis once (at most
    /// [`RESPONSE_TIMEOUT`]), then keeps connecting in the background, so a
    /// Redis outage never stops the server from starting: only settings
    /// that cannot work do.
    ///
    /// # Errors
    /// A URL (or CA file) the Redis client refuses, or a server whose TLS
    /// certificate does not verify on that first attempt.
    pub async fn connect(config: &RedisConfig) -> Result<Self, StartError> {
        let Some(url) = &config.url else {
            return Ok(Self { redis: None, prefix: config.prefix.as_str().into() });
        };
        let client_error = |error| StartError::Client { url: url.clone(), error };
        let client = match &config.ca_file {
            Some(ca_file) => redis::Client::build_with_tls(
                with_resp3(url.expose()),
                TlsCertificates { client_tls: None, root_cert: Some(ca_file.pem().to_vec()) },
            ),
            None => redis::Client::open(with_resp3(url.expose())),
        }
        .map_err(client_error)?;
        let trust: Arc<str> = match &config.ca_file {
            Some(ca_file) => format!("REDIS_CA_FILE ({})", ca_file.path().display()).into(),
            None => "the built-in public roots (name a private CA with REDIS_CA_FILE)".into(),
        };
        // Any other failure is an outage: `keep_connecting` waits it out.
        if let Err(error) = connect_once(&client).await
            && is_certificate_rejection(&error)
        {
            return Err(StartError::Certificate {
                trust: trust.to_string(),
                cause: error.to_string(),
                url: url.clone(),
            });
        }
        let redis = Arc::new(RedisBus {
            handlers: Arc::default(),
            connection: RwLock::new(None),
            breaker: Mutex::new(None),
        });
        tokio::spawn(keep_connecting(client, Arc::clone(&redis), trust));
        Ok(Self { redis: Some(redis), prefix: config.prefix.as_str().into() })
    }

    /// The prefix of the Socket.IO adapter's channels.
    pub fn adapter_prefix(&self) -> String {
        self.channel("socket.io")
    }

    /// The channel (or channel prefix) `name` of this deployment.
    pub fn channel(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// Whether Redis is configured (up or not).
    pub fn is_configured(&self) -> bool {
        self.redis.is_some()
    }

    /// Whether emits should go through Redis (configured, and not failing).
    pub fn is_routing(&self) -> bool {
        self.redis.as_ref().is_some_and(|redis| {
            let mut breaker = redis.breaker.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match *breaker {
                Some(until) if Instant::now() < until => false,
                Some(_) => {
                    *breaker = None;
                    true
                }
                None => true,
            }
        })
    }

    /// Records a failed emit through Redis: the next ones go local for a while.
    pub fn trip(&self) {
        if let Some(redis) = &self.redis {
            *redis.breaker.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(Instant::now() + BREAKER_OPEN);
        }
    }

    /// For health checks: `None` when Redis is not configured, else whether
    /// it answers a PING now.
    pub async fn probe(&self) -> Option<bool> {
        let redis = self.redis.as_ref()?;
        let Some(mut connection) = redis.connection() else { return Some(false) };
        let ping = redis::cmd("PING");
        let answer = tokio::time::timeout(RESPONSE_TIMEOUT, ping.query_async::<String>(&mut connection));
        Some(matches!(answer.await, Ok(Ok(_))))
    }
}

impl RedisBus {
    fn connection(&self) -> Option<ConnectionManager> {
        self.connection.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// One connection attempt, no retries: the start-up's look at Redis.
async fn connect_once(client: &redis::Client) -> redis::RedisResult<()> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(RESPONSE_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT));
    client.get_multiplexed_async_connection_with_config(&config).await.map(drop)
}

/// Whether `error` is rustls refusing the server's certificate (unknown
/// issuer, another host name, expired). redis keeps rustls's error behind
/// an `Arc<dyn Error>` and an `io::Error`, which hide it from `source()` and
/// downcasts; its text is what is left.
fn is_certificate_rejection(error: &redis::RedisError) -> bool {
    error.to_string().contains("invalid peer certificate")
}

/// Connects (retrying until Redis answers), then makes the subscriptions
/// asked for while disconnected. Reconnects after that are the connection
/// manager's job. `trust` says what the certificate is checked against.
async fn keep_connecting(client: redis::Client, redis: Arc<RedisBus>, trust: Arc<str>) {
    let handlers = Arc::clone(&redis.handlers);
    let config = ConnectionManagerConfig::new()
        .set_automatic_resubscription()
        .set_connection_timeout(Some(RESPONSE_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_max_delay(Duration::from_secs(2))
        .set_push_sender(move |message: PushInfo| {
            dispatch(message, &handlers);
            Ok::<(), std::convert::Infallible>(())
        });
    let mut warned = false;
    let mut certificate_logged: Option<Instant> = None;
    let mut connection = loop {
        match ConnectionManager::new_with_config(client.clone(), config.clone()).await {
            Ok(connection) => break connection,
            Err(error) if is_certificate_rejection(&error) => {
                if certificate_logged.is_none_or(|at| at.elapsed() >= CERTIFICATE_ERROR_EVERY) {
                    tracing::error!(%error, "redis TLS: the server's certificate does not verify against {trust}: degraded mode, pushes reach this instance's sockets only; retrying");
                    certificate_logged = Some(Instant::now());
                }
                tokio::time::sleep(CONNECT_RETRY).await;
            }
            Err(error) => {
                if !warned {
                    tracing::warn!(%error, "redis unreachable: degraded mode, pushes reach this instance's sockets only; retrying");
                    warned = true;
                }
                tokio::time::sleep(CONNECT_RETRY).await;
            }
        }
    };
    // Stored first, so a subscription asked for from now on is made
    // directly; then every one asked for before (twice is harmless).
    *redis.connection.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(connection.clone());
    let channels: Vec<String> =
        redis.handlers.read().unwrap_or_else(std::sync::PoisonError::into_inner).keys().cloned().collect();
    for channel in channels {
        if let Err(error) = connection.subscribe(&channel).await {
            tracing::error!(%error, channel, "redis subscribe failed");
        }
    }
    tracing::info!("redis connected: Socket.IO adapter spans every instance");
}

/// Hands a pub/sub message to the adapter's receiver for its channel.
fn dispatch(message: PushInfo, handlers: &Handlers) {
    if !matches!(message.kind, PushKind::Message) || message.data.len() < 2 {
        return;
    }
    let mut data = message.data.into_iter();
    let (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) = (data.next(), data.next())
    else {
        return;
    };
    let channel = String::from_utf8_lossy(&channel).into_owned();
    let handlers = handlers.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(sender) = handlers.get(&channel)
        && let Err(error) = sender.try_send((channel, payload))
    {
        tracing::warn!(%error, "redis message dropped: adapter queue full");
    }
}

/// A Redis call that gives up after [`RESPONSE_TIMEOUT`], whatever the
/// connection manager is doing (it may be reconnecting).
async fn within_deadline<T>(call: impl Future<Output = redis::RedisResult<T>>) -> Result<T, BusError> {
    match tokio::time::timeout(RESPONSE_TIMEOUT, call).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(BusError::Timeout),
    }
}

/// The client needs RESP3 for push messages; add it unless the URL says.
fn with_resp3(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}?protocol=resp3")
    }
}

impl Driver for Bus {
    type Error = BusError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), BusError> {
        let Some(redis) = &self.redis else { return Ok(()) };
        let mut connection = redis.connection().ok_or(BusError::NotConnected)?;
        within_deadline(connection.publish::<_, _, Value>(chan, val)).await?;
        Ok(())
    }

    async fn subscribe(&self, chan: String, size: usize) -> Result<MessageStream<ChanItem>, BusError> {
        let Some(redis) = &self.redis else { return Ok(MessageStream::new_empty()) };
        let (sender, receiver) = mpsc::channel(size);
        redis
            .handlers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(chan.clone(), sender);
        // Not connected yet: `keep_connecting` subscribes once it is.
        if let Some(mut connection) = redis.connection() {
            within_deadline(connection.subscribe(&chan)).await?;
        }
        Ok(MessageStream::new(receiver))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), BusError> {
        let Some(redis) = &self.redis else { return Ok(()) };
        redis.handlers.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&chan);
        if let Some(mut connection) = redis.connection() {
            within_deadline(connection.unsubscribe(&chan)).await?;
        }
        Ok(())
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, BusError> {
        let Some(redis) = &self.redis else { return Ok(1) };
        let mut connection = redis.connection().ok_or(BusError::NotConnected)?;
        let mut command = redis::cmd("PUBSUB");
        command.arg("NUMSUB").arg(chan);
        let (_, count): (String, u16) = within_deadline(command.query_async(&mut connection)).await?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp3_is_added_unless_the_url_chooses() {
        assert_eq!(with_resp3("redis://h:6379"), "redis://h:6379?protocol=resp3");
        assert_eq!(with_resp3("redis://h/0?x=1"), "redis://h/0?x=1&protocol=resp3");
        assert_eq!(with_resp3("redis://h?protocol=resp3"), "redis://h?protocol=resp3");
    }

    #[test]
    fn an_off_bus_never_routes() {
        assert!(!Bus::off().is_routing());
    }
}
