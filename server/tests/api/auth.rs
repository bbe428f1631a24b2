use crate::helpers::{TestApp, on_both_backends, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn error_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.expect("a JSON error body"))
}

async fn register_raw(app: &TestApp, email: &str, password: &str, shop: &str) -> reqwest::Response {
    app.post_json("/api/auth/register", &json!({"email": email, "password": password, "shop_name": shop}))
        .await
}

on_both_backends! {
    async fn register_returns_a_token_and_the_seller(app) {
        let response = register_raw(&app, "Ana@Shop.Example", "correct horse", "Ana's").await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        assert!(body["token"].as_str().is_some_and(|t| t.split('.').count() == 3), "{body}");
        assert!(body["seller"]["id"].is_i64(), "{body}");
        assert_eq!(body["seller"]["email"], "ana@shop.example");
        assert_eq!(body["seller"]["shop_name"], "Ana's");
        assert!(body["seller"].get("password_hash").is_none());
    }

    async fn a_taken_email_is_409_whatever_its_case(app) {
        assert_eq!(register_raw(&app, "bo@shop.example", "correct horse", "Bo").await.status(), StatusCode::CREATED);
        let (status, body) = error_of(register_raw(&app, "BO@shop.example", "other password", "Bo 2").await).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["error"], "email_taken");
    }

    async fn login_accepts_the_right_password_only(app) {
        register_raw(&app, "cy@shop.example", "correct horse", "Cy").await;
        let ok = app.post_json("/api/auth/login", &json!({"email": "CY@shop.example", "password": "correct horse"})).await;
        assert_eq!(ok.status(), StatusCode::OK);
        let body: Value = ok.json().await.unwrap();
        assert_eq!(body["seller"]["email"], "cy@shop.example");
        assert!(body["token"].is_string());

        let wrong = app.post_json("/api/auth/login", &json!({"email": "cy@shop.example", "password": "wrong horse"})).await;
        let (status, body) = error_of(wrong).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"], "unauthorized");

        let unknown = app.post_json("/api/auth/login", &json!({"email": "nobody@shop.example", "password": "correct horse"})).await;
        assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn each_registration_rule_is_a_422_naming_its_field() {
    let app = spawn_app().await;
    let long_password = "x".repeat(129);
    let cases = [
        (json!({"email": "not-an-email", "password": "correct horse", "shop_name": "S"}), "email"),
        (json!({"email": "a@shop.example", "password": "short", "shop_name": "S"}), "password"),
        (json!({"email": "a@shop.example", "password": long_password, "shop_name": "S"}), "password"),
        (json!({"email": "a@shop.example", "password": "correct horse", "shop_name": "  "}), "shop_name"),
        (json!({"email": "a@shop.example", "password": "correct horse"}), "shop_name"),
        (json!({"email": 5, "password": "correct horse", "shop_name": "S"}), "email"),
    ];
    for (body, field) in cases {
        let (status, error) = error_of(app.post_json("/api/auth/register", &body).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(error["error"], "validation_failed");
        let message = error["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{body} → {message}");
    }
}

#[tokio::test]
async fn login_sets_an_http_only_cookie_that_authenticates_the_dashboard() {
    let app = spawn_app().await;
    register_raw(&app, "di@shop.example", "correct horse", "Di").await;
    let response = app
        .post_json("/api/auth/login", &json!({"email": "di@shop.example", "password": "correct horse"}))
        .await;
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("liveshop_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "not in development: {cookie}");

    let pair = cookie.split(';').next().unwrap();
    let me = app.http.get(app.url("/api/auth/me")).header("Cookie", pair).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let body: Value = me.json().await.unwrap();
    assert_eq!(body["seller"]["email"], "di@shop.example");

    let logout = app.http.post(app.url("/api/auth/logout")).header("Cookie", pair).send().await.unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert!(logout.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
}

#[tokio::test]
async fn missing_or_bad_tokens_are_401() {
    let app = spawn_app().await;
    let (status, body) = error_of(app.get("/api/notifications").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "unauthorized");

    let bad = app.http.get(app.url("/api/notifications")).bearer_auth("a.b.c").send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);

    // A token signed with another secret.
    let other = crate::helpers::spawn_app_with(|c| {
        c.security.jwt_secret = secrecy::SecretString::from("another secret of at least 32 bytes".to_owned());
    })
    .await;
    let foreign = other.register("eve").await;
    let response =
        app.http.get(app.url("/api/notifications")).bearer_auth(&foreign.token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
