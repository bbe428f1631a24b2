//! The server-rendered pages: who is sent where before anything renders, and
//! the public storefront's name.

use crate::helpers::spawn_app;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};
use serde_json::Value;

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

#[tokio::test]
async fn the_dashboard_sends_visitors_without_a_session_to_login() {
    let app = spawn_app().await;
    let http = no_redirects();
    let response = http.get(app.url("/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/login");

    let forged = http.get(app.url("/")).header(COOKIE, "liveshop_session=not.a.token").send().await.unwrap();
    assert_eq!(forged.status(), StatusCode::SEE_OTHER, "a cookie that does not verify is no session");

    let login = http.get(app.url("/login")).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    assert!(login.text().await.unwrap().contains("Sign in"));
}

#[tokio::test]
async fn a_signed_in_seller_gets_the_dashboard_and_skips_the_sign_in_pages() {
    let app = spawn_app().await;
    let seller = app.register("ana").await;
    let http = no_redirects();
    let cookie = format!("liveshop_session={}", seller.token);

    let dashboard = http.get(app.url("/")).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(dashboard.status(), StatusCode::OK);
    let html = dashboard.text().await.unwrap();
    assert!(html.contains(r#"data-testid="connection-status""#), "{html}");
    assert!(html.contains(r#"rel="manifest""#));

    for page in ["/login", "/register"] {
        let response = http.get(app.url(page)).header(COOKIE, &cookie).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{page}");
        assert_eq!(response.headers()[LOCATION], "/");
    }
}

#[tokio::test]
async fn the_storefront_is_public_and_names_its_shop() {
    let app = spawn_app().await;
    let seller = app.register("ana").await;

    let page = no_redirects().get(app.url(&format!("/shop/{}", seller.id))).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);

    let response = app.get(&format!("/api/shops/{}", seller.id)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["shop"]["id"], seller.id);
    assert_eq!(body["shop"]["shop_name"], "ana");
    assert!(body["shop"].get("email").is_none(), "the storefront never shows the seller's email");

    for unknown in ["999999", "0", "-1", "abc"] {
        let response = app.get(&format!("/api/shops/{unknown}")).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{unknown}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "not_found");
    }
}
