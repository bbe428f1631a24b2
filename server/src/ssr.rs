//! Serves the Leptos pages (server-rendered, then hydrated by the WASM
//! client) and the static files under the site root (`/pkg/*`, icons).

use crate::state::AppState;
use app::{App, shell};
use axum::Router;
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
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
}
