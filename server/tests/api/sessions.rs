//! Sessions end before their tokens expire: logout ends the current one,
//! "sign out everywhere" and a password change end them all. A token of an
//! ended session is refused by the HTTP API and by the socket handshake,
//! and the session's open sockets are disconnected.

use crate::helpers::{TestApp, TestSeller, spawn_app};
use crate::socket::handshake;
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse";

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.post_json("/api/auth/login", &json!({"email": email, "password": password})).await
}

/// A second session of `seller` (another device): its token.
async fn sign_in_again(app: &TestApp, email: &str) -> TestSeller {
    let response = login(app, email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    TestSeller {
        id: body["seller"]["id"].as_i64().unwrap(),
        token: body["token"].as_str().unwrap().to_owned(),
    }
}

async fn email_of(app: &TestApp, seller: &TestSeller) -> String {
    let me: Value = app.get_as(seller, "/api/auth/me").await.json().await.unwrap();
    me["seller"]["email"].as_str().unwrap().to_owned()
}

async fn me_status(app: &TestApp, seller: &TestSeller) -> StatusCode {
    app.get_as(seller, "/api/auth/me").await.status()
}

async fn socket_opens(app: &TestApp, seller: &TestSeller) -> bool {
    match handshake(app, json!({"token": seller.token}), &[]).await {
        Ok(_) => true,
        Err(error) => {
            assert!(error.contains("unauthorized"), "{error}");
            false
        }
    }
}

#[tokio::test]
async fn logout_ends_this_session_only_and_disconnects_its_sockets() {
    let app = spawn_app().await;
    let phone = app.register("ana").await;
    let laptop = sign_in_again(&app, &email_of(&app, &phone).await).await;
    let _phone_socket = handshake(&app, json!({"token": phone.token}), &[]).await.unwrap();
    let _laptop_socket = handshake(&app, json!({"token": laptop.token}), &[]).await.unwrap();
    app.wait_for_sockets(2.0).await;

    let response = app.post_as(&phone, "/api/auth/logout", None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("Max-Age=0"), "{cookie}");

    assert_eq!(me_status(&app, &phone).await, StatusCode::UNAUTHORIZED, "the token is revoked");
    assert!(!socket_opens(&app, &phone).await, "and cannot open a socket");
    app.wait_for_sockets(1.0).await;
    assert_eq!(me_status(&app, &laptop).await, StatusCode::OK, "the other session goes on");
    assert!(socket_opens(&app, &laptop).await);

    // Signing out again, or without a session, is not an error.
    assert_eq!(app.post_as(&phone, "/api/auth/logout", None).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.post_json("/api/auth/logout", &json!({})).await.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_and_socket_of_the_seller_only() {
    let app = spawn_app().await;
    let phone = app.register("ana").await;
    let laptop = sign_in_again(&app, &email_of(&app, &phone).await).await;
    let other = app.register("bo").await;
    let _sockets = [
        handshake(&app, json!({"token": phone.token}), &[]).await.unwrap(),
        handshake(&app, json!({"token": laptop.token}), &[]).await.unwrap(),
        handshake(&app, json!({"token": other.token}), &[]).await.unwrap(),
    ];
    app.wait_for_sockets(3.0).await;

    let response = app.post_as(&laptop, "/api/auth/logout-everywhere", None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for token in [&phone, &laptop] {
        assert_eq!(me_status(&app, token).await, StatusCode::UNAUTHORIZED);
        assert!(!socket_opens(&app, token).await);
    }
    app.wait_for_sockets(1.0).await;
    assert_eq!(me_status(&app, &other).await, StatusCode::OK, "another seller is untouched");

    // Ended sessions cannot sign out everywhere again; a new sign-in works.
    let again = app.post_as(&phone, "/api/auth/logout-everywhere", None).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    let fresh = sign_in_again(&app, &email_of(&app, &other).await).await;
    assert_eq!(me_status(&app, &fresh).await, StatusCode::OK);
}

#[tokio::test]
async fn changing_the_password_ends_every_session_and_signs_this_device_in_again() {
    let app = spawn_app().await;
    let phone = app.register("ana").await;
    let email = email_of(&app, &phone).await;
    let laptop = sign_in_again(&app, &email).await;
    let _socket = handshake(&app, json!({"token": phone.token}), &[]).await.unwrap();
    app.wait_for_sockets(1.0).await;

    let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let wrong = app.post_as(&laptop, "/api/auth/password", Some(&change("wrong horse", "new battery"))).await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.json::<Value>().await.unwrap()["message"].as_str().unwrap().contains("current_password"));
    let short = app.post_as(&laptop, "/api/auth/password", Some(&change(PASSWORD, "short"))).await;
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.json::<Value>().await.unwrap()["message"].as_str().unwrap().contains("new_password"));
    assert_eq!(me_status(&app, &phone).await, StatusCode::OK, "refused changes end nothing");

    let changed =
        app.post_as(&laptop, "/api/auth/password", Some(&change(PASSWORD, "new battery staple"))).await;
    assert_eq!(changed.status(), StatusCode::OK);
    assert!(changed.headers()["set-cookie"].to_str().unwrap().starts_with("liveshop_session="));
    let body: Value = changed.json().await.unwrap();
    let renewed = TestSeller { id: phone.id, token: body["token"].as_str().unwrap().to_owned() };
    assert_eq!(body["seller"]["email"], email);

    for old in [&phone, &laptop] {
        assert_eq!(me_status(&app, old).await, StatusCode::UNAUTHORIZED);
    }
    app.wait_for_sockets(0.0).await;
    assert_eq!(me_status(&app, &renewed).await, StatusCode::OK, "this device's new session");
    assert!(socket_opens(&app, &renewed).await);
    assert_eq!(login(&app, &email, PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(login(&app, &email, "new battery staple").await.status(), StatusCode::OK);
}
