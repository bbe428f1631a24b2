//! Bodies above a route's limit are refused with a `413` the client can
//! read (CONTRACT): the server reads and discards what the client is still
//! sending before it answers. Answering at once and closing would reset the
//! connection under a client that is still writing, and most clients then
//! report a broken pipe instead of the status.
//!
//! This covers bodies that declare their length (`Content-Length`), which is
//! what clients send for a JSON body. A chunked body is still cut off by the
//! extractors' limit (`DefaultBodyLimit`) once it passes the limit.

use crate::error::ApiError;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, EXPECT};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use std::time::Duration;

/// Discarded at most before answering: beyond this the connection is
/// closed under the client (a client sending this much is not a mistake).
const DRAIN_MAX: u64 = 8 * 1024 * 1024;
/// Spent at most discarding a body: a slow sender cannot hold a task.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Middleware: refuses a body declared longer than `LIMIT` bytes with `413`,
/// after reading it (up to [`DRAIN_MAX`]; not when the client waits for
/// `100 Continue` before sending it).
pub(crate) async fn refuse_declared_above<const LIMIT: usize>(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    match declared {
        Some(length) if length > LIMIT as u64 => {
            tracing::info!(path = %request.uri().path(), length, limit = LIMIT, "request body too large");
            // A client that asked `Expect: 100-continue` waits for our word
            // before sending: reading would tell it to send what we refuse.
            let waits_to_send = request.headers().contains_key(EXPECT);
            if length <= DRAIN_MAX && !waits_to_send {
                discard(request.into_body()).await;
            }
            ApiError::PayloadTooLarge.into_response()
        }
        _ => next.run(request).await,
    }
}

/// Reads `body` to its end (or [`DRAIN_TIMEOUT`], or an error), keeping none of it.
async fn discard(body: Body) {
    let mut chunks = body.into_data_stream();
    let read_all = async { while let Some(Ok(_)) = chunks.next().await {} };
    if tokio::time::timeout(DRAIN_TIMEOUT, read_all).await.is_err() {
        tracing::info!("gave up reading a refused body: the client sends too slowly");
    }
}
