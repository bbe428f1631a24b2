//! Serves the Leptos pages (server-rendered, then hydrated by the WASM
//! client) and the static files under the site root (`/pkg/*`, icons, the
//! PWA manifest and service worker).

use crate::auth::session_cookie;
use crate::sessions::Freshness;
use crate::state::AppState;
use app::{App, shell};
use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Redirect, Response};
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};

/// The page routes, with [`AppState`] in context for components and server
/// functions. Anything else falls through to static files, then to the app's
/// own 404 page.
pub fn router(state: &AppState) -> Router<AppState> {
    let routes = generate_route_list(App);
    let context_state = state.clone();
    let site = state.site.clone();
    Router::new()
        .leptos_routes_with_context(
            state,
            routes,
            move || provide_context(context_state.clone()),
            move || shell(site.clone()),
        )
        .route_layer(from_fn_with_state(state.clone(), guard_pages))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
}

/// The dashboard is for signed-in sellers, the sign-in pages for everyone
/// else: a redirect before rendering, so neither flashes the wrong page.
/// The session is checked as the API checks it (the cookie's token, its
/// session through the cache), so a revoked session lands on the sign-in page.
async fn guard_pages(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let signed_in = match session_cookie(request.headers()) {
        Some(token) => state.sessions.authenticate(&token, Freshness::Cached).await.is_ok(),
        None => false,
    };
    match (request.uri().path(), signed_in) {
        ("/", false) => Redirect::to("/login").into_response(),
        ("/login" | "/register", true) => Redirect::to("/").into_response(),
        _ => next.run(request).await,
    }
}
