//! Wires the application together and runs it. This is the only place that
//! picks backends.

use crate::config::Config;
use crate::state::{AppState, ProcessInfo};
use crate::store::Database;
use crate::{gateway, http, ssr};
use anyhow::Context;
use axum::Router;
use socketioxide::SocketIo;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

/// How long shutdown waits for in-flight requests before giving up.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A built application: its listener is bound, so [`Application::port`] is
/// real even when the configured port was 0.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    /// Connects the database, applies migrations, binds the listener.
    ///
    /// # Errors
    /// When the database cannot be opened or migrated, or the address cannot
    /// be bound.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let database = Database::connect(&config.database_url).await?;
        tracing::info!(store = %database.kind(), "database ready, migrations applied");

        let (socket_layer, io) = gateway::layer(&config);
        let state = AppState {
            site: config.site.clone(),
            database,
            io,
            process: Arc::new(ProcessInfo {
                instance: config.instance.clone(),
                started: Instant::now(),
            }),
        };

        let router = Router::new()
            .merge(http::router())
            .merge(ssr::router(&state))
            .layer(socket_layer)
            .layer(TraceLayer::new_for_http())
            .with_state(state.clone());

        let listener = TcpListener::bind(config.site.site_addr)
            .await
            .with_context(|| format!("failed to bind {}", config.site.site_addr))?;
        Ok(Self {
            listener,
            router,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("BUG: a bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// Serves until `shutdown` completes, then closes every socket, lets
    /// in-flight requests finish (up to a grace period) and closes the database.
    ///
    /// # Errors
    /// When the server fails while serving.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            router,
            state,
        } = self;
        tracing::info!(addr = %listener.local_addr()?, "listening");

        let (stopping_tx, stopping_rx) = tokio::sync::watch::channel(false);
        let io = state.io.clone();
        let graceful = async move {
            shutdown.await;
            tracing::info!("shutting down: closing sockets, finishing requests");
            let _ = stopping_tx.send(true);
            close_sockets(&io).await;
        };
        let serve = axum::serve(listener, router).with_graceful_shutdown(graceful);

        let mut stopping = stopping_rx;
        tokio::select! {
            result = serve => result.context("server failed")?,
            () = async {
                let _ = stopping.wait_for(|s| *s).await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => tracing::warn!("grace period over; dropping remaining connections"),
        }
        state.database.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

async fn close_sockets(io: &SocketIo) {
    io.close().await;
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
