//! Wires the application together and runs it. This is the only place that
//! picks backends.
//!
//! Shutdown (SIGTERM or SIGINT) drains: the instance reports `draining` and
//! refuses new sockets, closes its sockets spread over `DRAIN_MS` while it
//! keeps serving HTTP (from the last slice on, refusing every request of a
//! Socket.IO session), waits for them to be gone (up to
//! [`SOCKETS_GONE_WAIT`]), then stops taking requests and finishes those in
//! flight (up to [`SHUTDOWN_GRACE`]), hands the pushes still waiting for
//! their acks to the persistent queue, stops its workers and closes the
//! database (those three together up to [`FINAL_GRACE`]), and returns `Ok`
//! either way. Order matters: the load balancer must see the 503 before the
//! listener goes away, and the sockets must be gone before delivery hands
//! over, or a push could start after it.
//!
//! Worst case, with the default `DRAIN_MS`: 10 + 1 + 10 + 10 = 31 s from
//! SIGTERM to exit (`scripts/check-deploy.sh` reads these constants and
//! checks every stop timeout of `deploy/` against them). A second signal
//! during the spread closes the remaining sockets at once; after it, the
//! next one exits at once.

use crate::auth::JwtKeys;
use crate::config::Config;
use crate::delivery::store::SqlStore;
use crate::delivery::{self, Delivery};
use crate::drain::{self, Connections, Drain, TrackedListener};
use crate::gateway::bus::Bus;
use crate::gateway::relay::Relay;
use crate::gateway::{SocketIo, SocketIoFanout};
use crate::queue::{self, RetryQueue};
use crate::rate_limiter::RateLimiter;
use crate::sessions::Sessions;
use crate::state::{AppState, ProcessInfo};
use crate::store::Database;
use crate::{gateway, http, ssr};
use anyhow::Context;
use axum::Router;
use axum::middleware::from_fn;
use axum::serve::ListenerExt;
use secrecy::ExposeSecret;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultMakeSpan, TraceLayer};

/// How long shutdown waits for in-flight requests before giving up.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long the drain waits, once the last connection is closed, for the
/// sockets to be gone (their disconnect handled) before going on. Sockets
/// on long polling may stay until their heartbeat fails: not waited for
/// (their next request is refused, and their session goes with the process).
const SOCKETS_GONE_WAIT: Duration = Duration::from_secs(1);

/// How long the last steps, once the server has stopped serving, may take
/// together: the hand-over to the queue, the retry worker's stop and
/// closing the database (which waits for the connections checked out: a
/// database gone silent mid-query would hold it for good). Past it the
/// process exits anyway, with status 0; the store, the queue and the sweep
/// of the other instances cover what was not finished.
const FINAL_GRACE: Duration = Duration::from_secs(10);

/// Makes ring the process's rustls crypto provider, which the TLS clients
/// of PostgreSQL (`sslmode=verify-ca`) and Redis (`rediss://`) use. rustls
/// picks one by itself only while exactly one provider is compiled in; with
/// two (a dependency enabling aws-lc-rs) it would panic at the first
/// handshake. A second call (tests build many applications) changes nothing.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A built application: its listener is bound, so [`Application::port`] is
/// real even when the configured port was 0.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    /// The open connections, so the drain can close those of sockets.
    connections: Connections,
    /// `DRAIN_MS`.
    drain_period: Duration,
}

impl Application {
    /// Connects the database, applies migrations, binds the listener.
    ///
    /// # Errors
    /// When the database cannot be opened or migrated, or the address cannot
    /// be bound.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        install_crypto_provider();
        let database = Database::connect(&config.database_url).await?;
        tracing::info!(store = %database.kind(), "database ready, migrations applied");

        let security = &config.security;
        let keys = JwtKeys::new(security.jwt_secret.expose_secret().as_bytes(), security.jwt_ttl);
        let sessions = Sessions::new(database.clone(), keys);
        let queue = RetryQueue::open(&database).await?;
        let bus = Bus::connect(&config.redis).await?;
        let (socket_layer, io) = gateway::layer(&config.socket, bus.clone());
        let relay = Relay::start(&bus);
        let delivery = Delivery::new(
            Arc::new(SqlStore::spawn(database.clone())),
            Arc::new(SocketIoFanout::new(io.clone(), relay.clone(), config.delivery.ack_timeout)),
            Arc::new(queue.clone()),
            &config.delivery,
        );
        relay.listen(&bus, delivery.clone()).await.context("failed to subscribe to the relay channel")?;
        let refused_events = gateway::RefusedEvents::default();
        let refused_sockets = gateway::RefusedSockets::default();
        let drain = Drain::default();
        let gateway_state = gateway::GatewayState {
            sessions: sessions.clone(),
            cors: config.security.cors.clone(),
            database: database.clone(),
            delivery: delivery.clone(),
            limits: config.socket.clone(),
            trusted_proxies: security.trusted_proxies.clone(),
            refused_events: refused_events.clone(),
            refused_sockets: refused_sockets.clone(),
            drain: drain.clone(),
        };
        gateway::accept_sockets(&io, gateway_state).await?;
        let state = AppState {
            site: config.site.clone(),
            refused_socket_events: refused_events,
            refused_sockets: refused_sockets.clone(),
            drain: drain.clone(),
            delivery,
            queue,
            bus,
            database,
            io,
            sessions,
            ingest_api_key: security.ingest_api_key.clone(),
            rate_limiter: Arc::new(RateLimiter::new(security.rate_limit_per_min)),
            trusted_proxies: Arc::new(security.trusted_proxies.clone()),
            secure_cookies: config.is_production(),
            process: Arc::new(ProcessInfo { instance: config.instance.clone(), started: Instant::now() }),
        };

        let hsts = config.is_production();
        let connections = Connections::default();
        let tracked = connections.clone();
        let mut router = Router::new()
            .merge(http::router(&state))
            .merge(ssr::router(&state))
            .layer(socket_layer)
            .layer(from_fn(move |request, next| {
                gateway::refuse_new_sessions_while_draining(
                    drain.clone(),
                    refused_sockets.clone(),
                    request,
                    next,
                )
            }))
            .layer(from_fn(move |request, next| drain::track_socket_io(tracked.clone(), request, next)))
            .layer(from_fn(gateway::detach_request_parts))
            .layer(from_fn(move |request, next| http::security::headers(hsts, request, next)));
        if let Some(cors) = http::security::cors(&config.security.cors) {
            router = router.layer(cors);
        }
        let router = router
            // A bug in a handler answers 500 with the contract's body instead
            // of dropping the connection.
            .layer(CatchPanicLayer::custom(http::panic_response))
            // One INFO span per request (method, path), so every log line a
            // request causes says which request it was.
            .layer(
                TraceLayer::new_for_http().make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO)),
            )
            .with_state(state.clone());

        let listener = TcpListener::bind(config.site.site_addr)
            .await
            .with_context(|| format!("failed to bind {}", config.site.site_addr))?;
        Ok(Self { listener, router, state, connections, drain_period: config.drain_period })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("BUG: a bound listener has an address")
    }

    /// The connected database, for tests that need to reach past the API.
    pub fn database(&self) -> &Database {
        &self.state.database
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// Serves until `shutdown` completes, then drains (see the module's
    /// documentation) and returns.
    ///
    /// # Errors
    /// When the server fails while serving.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.run_until_stopped_or_hurried(shutdown, std::future::pending).await
    }

    /// [`Self::run_until_stopped`], where `signal` makes a future that
    /// completes at the next signal (a second SIGTERM or Ctrl-C). Signals
    /// are listened for from the moment the drain begins to the end of the
    /// shutdown. One that comes while the sockets are being closed closes
    /// those still open at once, instead of spread over the rest of
    /// `DRAIN_MS`, and the shutdown goes on. Any later one (or the next, once
    /// the spread was hurried) exits the process at once, with status 0:
    /// nothing is lost, what waits for an ack is in the store, where the
    /// queue and the sweep of the other instances find it.
    ///
    /// # Errors
    /// When the server fails while serving.
    pub async fn run_until_stopped_or_hurried<S>(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
        mut signal: impl FnMut() -> S + Send + 'static,
    ) -> anyhow::Result<()>
    where
        S: Future<Output = ()> + Send + 'static,
    {
        let Self { listener, router, state, connections, drain_period } = self;
        tracing::info!(addr = %listener.local_addr()?, "listening");

        // Once the spread is over, the next signal exits. The listener is
        // handed over, not made anew, when the spread did not use it: a
        // signal is never missed in between.
        let (arm_exit, armed) = tokio::sync::oneshot::channel::<Pin<Box<S>>>();
        let _exit_on_signal = AbortOnDrop(tokio::spawn(async move {
            if let Ok(signal) = armed.await {
                signal.await;
                tracing::warn!("second signal: exiting now");
                std::process::exit(0);
            }
        }));

        // Sent when the server stops taking requests: the grace period starts.
        let (closing_tx, mut closing) = tokio::sync::watch::channel(false);
        let (drain, io) = (state.drain.clone(), state.io.clone());
        let tracked = connections.clone();
        let graceful = async move {
            shutdown.await;
            let mut next_signal = Box::pin(signal());
            let spread = spread_sockets(&drain, &io, &tracked, drain_period, &mut next_signal).await;
            if spread.hurried {
                next_signal = Box::pin(signal());
            }
            let _ = arm_exit.send(next_signal);
            let started = tokio::time::Instant::now();
            while !io.sockets().is_empty() && started.elapsed() < SOCKETS_GONE_WAIT {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // Nothing carries Socket.IO any more (every session request is
            // refused since the last slice); closed once more all the same,
            // so the shutdown has no long poll to wait for.
            let late = tracked.close_all_socket_io();
            tracing::info!(
                connections_closed = spread.closed + late,
                hurried = spread.hurried,
                sockets_left = io.sockets().len(),
                "sockets drained"
            );
            tracing::info!("no longer taking requests; finishing those in flight");
            let _ = closing_tx.send(true);
        };
        // The tap does nothing: it is what axum derives the peer address
        // (`ConnectInfo<SocketAddr>`, read by every per-IP limit) for on a
        // listener other than its own.
        let listener = TrackedListener::new(listener, connections).tap_io(|_| {});
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        let serve = axum::serve(listener, service).with_graceful_shutdown(graceful);

        // The retry worker and the delivery sweep run through the drain, and
        // stop once delivery has handed over.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let worker_name = format!("{}-{}", state.process.instance, uuid_like());
        let mut worker = tokio::spawn(state.queue.clone().run_worker(
            worker_name,
            state.delivery.clone(),
            queue::handle_retry_job,
            stopped(stop_rx.clone()),
        ));
        let sweeper = tokio::spawn(delivery::sweep::run(state.delivery.clone(), stopped(stop_rx)));

        tokio::select! {
            result = serve => result.context("server failed")?,
            () = async {
                let _ = closing.wait_for(|s| *s).await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => tracing::warn!("grace period over; dropping remaining connections"),
        }
        // Nothing pushes from here on (no socket, no request): what still
        // waits for an ack goes to the queue now, not with this process.
        // These steps share one deadline: a database that stopped answering
        // (closing waits for the connections checked out) must not keep the
        // process from exiting 0.
        let finish = async {
            state.delivery.hand_over().await;
            let _ = stop_tx.send(true);
            sweeper.abort();
            match (&mut worker).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::error!(error = %format!("{error:#}"), "retry worker failed"),
                Err(join_error) => tracing::error!(%join_error, "retry worker panicked"),
            }
            state.database.close().await;
        };
        if tokio::time::timeout(FINAL_GRACE, finish).await.is_ok() {
            tracing::info!("stopped: drained, unacknowledged pushes left to the queue");
        } else {
            let _ = stop_tx.send(true);
            sweeper.abort();
            worker.abort();
            tracing::warn!(
                final_grace_s = FINAL_GRACE.as_secs(),
                "stopped: the hand-over, the retry worker's stop and closing the database did not \
                 finish in time; nothing is lost (the store, the queue and the sweep cover it)"
            );
        }
        Ok(())
    }
}

/// Aborts its task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Marks the instance draining, then closes its sockets spread over
/// `period` (at once when `hurry` completes first); returns once the last
/// slice is closed.
async fn spread_sockets(
    drain: &Drain,
    io: &SocketIo,
    connections: &Connections,
    period: Duration,
    hurry: impl Future<Output = ()>,
) -> drain::Spread {
    drain.begin();
    let sockets = io.sockets().len();
    let drain_ms = period.as_millis();
    tracing::info!(sockets, drain_ms, "draining: {sockets} sockets over {drain_ms} ms");
    let started = Instant::now();
    let spread = drain::disconnect_spread(drain, connections, period, hurry).await;
    tracing::info!(
        connections_closed = spread.closed,
        hurried = spread.hurried,
        elapsed_ms = started.elapsed().as_millis(),
        "sockets closed; session requests refused from now on"
    );
    spread
}

/// A suffix that makes this process's queue worker name unique, even when a
/// restarted process reuses its `INSTANCE_ID` before the old registration
/// has expired.
fn uuid_like() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (what deploys and `docker stop` send).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
