use crate::helpers::{spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::config::CorsOrigins;

#[tokio::test]
async fn responses_carry_the_security_headers() {
    let app = spawn_app().await;
    for path in ["/api/health", "/"] {
        let response = app.get(path).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert!(headers.contains_key("referrer-policy"), "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!headers.contains_key("strict-transport-security"), "no HSTS in development");
    }
    // The page's policy lets its own inline hydration script run, by nonce.
    let page = app.get("/").await;
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce in the page CSP");
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("nonce=\"{nonce}\"")), "the hydration script must carry the nonce");
}

#[tokio::test]
async fn production_adds_hsts_and_secure_cookies() {
    let app = spawn_app_with(|c| c.environment = server::config::Environment::Production).await;
    assert!(app.get("/api/health").await.headers().contains_key("strict-transport-security"));
    let response = app
        .post_json(
            "/api/auth/register",
            &json!({"email": "p@shop.example", "password": "correct horse", "shop_name": "P"}),
        )
        .await;
    assert!(response.headers()["set-cookie"].to_str().unwrap().contains("Secure"));
}

#[tokio::test]
async fn cors_answers_listed_origins_only() {
    let app =
        spawn_app_with(|c| c.security.cors = CorsOrigins::List(vec!["https://space.livelink.store".into()]))
            .await;
    let allowed = app
        .http
        .get(app.url("/api/health"))
        .header("Origin", "https://space.livelink.store")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://space.livelink.store");
    assert_eq!(allowed.headers()["access-control-allow-credentials"], "true");

    let refused =
        app.http.get(app.url("/api/health")).header("Origin", "https://evil.example").send().await.unwrap();
    assert!(!refused.headers().contains_key("access-control-allow-origin"));
    assert!(!refused.headers().contains_key("access-control-allow-credentials"));

    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/api/notifications"))
        .header("Origin", "https://space.livelink.store")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type,x-api-key")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "https://space.livelink.store");
}

#[tokio::test]
async fn without_cors_origin_no_cors_headers_are_sent() {
    let app = spawn_app().await;
    let response =
        app.http.get(app.url("/api/health")).header("Origin", "https://a.example").send().await.unwrap();
    assert!(!response.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn register_login_and_orders_are_rate_limited_per_ip() {
    let app = spawn_app_with(|c| c.security.rate_limit_per_min = 3).await;
    let body = json!({"email": "x@shop.example", "password": "wrong password"});
    for _ in 0..3 {
        assert_eq!(app.post_json("/api/auth/login", &body).await.status(), StatusCode::UNAUTHORIZED);
    }
    let limited = app.post_json("/api/auth/login", &body).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(limited.json::<Value>().await.unwrap()["error"], "rate_limited");

    // Storefront orders share the same budget; authenticated routes do not count.
    let order = app.post_json("/api/shops/1/orders", &json!({"customer_name": "c", "items": []})).await;
    assert_eq!(order.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.get("/api/health").await.status(), StatusCode::OK);
}
