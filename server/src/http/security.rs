//! Browser-facing hardening, as Helmet and the cors package did in the
//! original: security headers on every response and a CORS whitelist.

use crate::config::CorsOrigins;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowCredentials, AllowOrigin, CorsLayer};

/// Adds the security headers a response does not set itself. HTML pages set
/// their own Content-Security-Policy (with a nonce); everything else gets the
/// same policy without one. `hsts` only in production, behind TLS.
pub(crate) async fn headers(hsts: bool, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY)
        && let Ok(value) = HeaderValue::from_str(&app::security::content_security_policy(None))
    {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}

/// The CORS layer for `CORS_ORIGIN`, or none (same origin only). An origin not
/// on the list gets no CORS headers, so the browser blocks the response.
pub(crate) fn cors(origins: &CorsOrigins) -> Option<CorsLayer> {
    let base = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, HeaderName::from_static("x-api-key")])
        .max_age(std::time::Duration::from_secs(600));
    match origins {
        CorsOrigins::None => None,
        // Credentials are never allowed with a wildcard (browsers refuse it).
        CorsOrigins::Any => Some(base.allow_origin(AllowOrigin::any())),
        CorsOrigins::List(list) => {
            let values: Vec<HeaderValue> =
                list.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
            // Credentials only for listed origins: tower-http would otherwise
            // send `allow-credentials` to every origin.
            let listed = values.clone();
            Some(
                base.allow_origin(AllowOrigin::list(values))
                    .allow_credentials(AllowCredentials::predicate(move |origin, _| listed.contains(origin))),
            )
        }
    }
}
