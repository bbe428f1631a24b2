//! Who may open sockets and how many (`SOCKETS_PER_SELLER`,
//! `SOCKET_CONNECTS_PER_MIN`, `SOCKET_LIMITS_EXEMPT`), and whose
//! `X-Forwarded-For` names the client (`TRUSTED_PROXIES`), through real
//! clients. The tests run on loopback, which is exempt by default: they
//! empty the exemption, or reach the server "through a proxy".

use crate::helpers::{TestApp, spawn_app_with};
use crate::socket::handshake;
use reqwest::StatusCode;
use serde_json::json;
use server::config::{Config, Networks};
use std::time::Duration;
use tokio::time::Instant;

fn no_exemption(config: &mut Config) {
    config.socket.limits_exempt = Networks::default();
}

fn loopback_is_a_trusted_proxy(config: &mut Config) {
    config.security.trusted_proxies = Networks::parse("TRUSTED_PROXIES", "127.0.0.1, ::1").unwrap();
}

fn forwarded_for(ip: &str) -> [(&'static str, String); 1] {
    [("X-Forwarded-For", ip.to_owned())]
}

async fn refused_by(app: &TestApp, reason: &str) -> f64 {
    app.metric(&format!("liveshop_sockets_refused_total{{reason=\"{reason}\"}}")).await
}

#[tokio::test]
async fn a_seller_at_its_socket_cap_is_refused_until_one_of_its_sockets_closes() {
    let app = spawn_app_with(|config| {
        no_exemption(config);
        config.socket.sockets_per_seller = 2;
    })
    .await;
    let (ana, bo) = (app.register("ana").await, app.register("bo").await);
    let auth = json!({"token": ana.token});
    let first = handshake(&app, auth.clone(), &[]).await.expect("first socket");
    let _second = handshake(&app, auth.clone(), &[]).await.expect("second socket");
    let error = handshake(&app, auth.clone(), &[]).await.err().expect("the third is over the cap");
    assert!(error.contains("too_many_sockets"), "{error}");
    assert!(handshake(&app, json!({"token": bo.token}), &[]).await.is_ok(), "another seller's own cap");
    assert_eq!(refused_by(&app, "too_many_sockets").await, 1.0);

    // A closed socket gives its slot back (once the server has seen it go).
    first.disconnect().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match handshake(&app, auth.clone(), &[]).await {
            Ok(_) => break,
            Err(error) => assert!(Instant::now() < deadline, "the slot never came back: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_ip_over_its_connection_rate_is_refused_before_its_token_is_read() {
    let app = spawn_app_with(|config| {
        no_exemption(config);
        config.socket.connects_per_ip_per_min = 3;
    })
    .await;
    let seller = app.register("ana").await;
    // Bad handshakes count too: a flood of them must not cost signature checks.
    let error = handshake(&app, json!({"token": "not.a.token"}), &[]).await.err().expect("bad token");
    assert!(error.contains("unauthorized"), "{error}");
    for _ in 0..2 {
        assert!(handshake(&app, json!({"token": seller.token}), &[]).await.is_ok());
    }
    let error = handshake(&app, json!({"token": seller.token}), &[]).await.err().expect("over the rate");
    assert!(error.contains("rate_limited"), "{error}");
    assert_eq!(refused_by(&app, "rate_limited").await, 1.0);
    assert_eq!(refused_by(&app, "unauthorized").await, 1.0);
}

#[tokio::test]
async fn the_servers_own_machine_is_exempt_by_default() {
    let app = spawn_app_with(|config| {
        config.socket.sockets_per_seller = 1;
        config.socket.connects_per_ip_per_min = 1;
    })
    .await;
    let seller = app.register("ana").await;
    let mut sockets = Vec::new();
    for n in 0..3 {
        let socket = handshake(&app, json!({"token": seller.token}), &[]).await;
        sockets.push(socket.unwrap_or_else(|error| panic!("socket {n} from loopback refused: {error}")));
    }
}

#[tokio::test]
async fn socket_limits_count_the_client_a_trusted_proxy_names() {
    let app = spawn_app_with(|config| {
        loopback_is_a_trusted_proxy(config);
        config.socket.connects_per_ip_per_min = 1;
    })
    .await;
    let seller = app.register("ana").await;
    let auth = json!({"token": seller.token});
    // Through the proxy the client is remote: not exempt, one socket a minute each.
    assert!(handshake(&app, auth.clone(), &forwarded_for("198.51.100.1")).await.is_ok());
    let error = handshake(&app, auth.clone(), &forwarded_for("198.51.100.1")).await.err().expect("refused");
    assert!(error.contains("rate_limited"), "{error}");
    assert!(handshake(&app, auth.clone(), &forwarded_for("198.51.100.2")).await.is_ok(), "another client");
    // What the client wrote itself, left of the proxy's entry, is not read.
    let forged = [("X-Forwarded-For", "198.51.100.9, 198.51.100.1".to_owned())];
    assert!(handshake(&app, auth, &forged).await.is_err(), "still 198.51.100.1");
}

#[tokio::test]
async fn the_http_rate_limit_reads_x_forwarded_for_only_from_a_trusted_proxy() {
    let login = json!({"email": "x@shop.example", "password": "wrong password"});
    let post_from = |app: &TestApp, ip: &str| {
        app.http.post(app.url("/api/auth/login")).header("X-Forwarded-For", ip).json(&login).send()
    };

    // Not trusted: the header is the client's own claim, and ignored.
    let direct = spawn_app_with(|config| config.security.rate_limit_per_min = 2).await;
    for ip in ["198.51.100.1", "198.51.100.2"] {
        assert_eq!(post_from(&direct, ip).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    let limited = post_from(&direct, "198.51.100.3").await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS, "one budget for the one peer");

    // Trusted: each forwarded client has a budget of its own.
    let proxied = spawn_app_with(|config| {
        loopback_is_a_trusted_proxy(config);
        config.security.rate_limit_per_min = 2;
    })
    .await;
    for _ in 0..2 {
        assert_eq!(post_from(&proxied, "198.51.100.1").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    let limited = post_from(&proxied, "198.51.100.1").await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let forged = post_from(&proxied, "198.51.100.7, 198.51.100.1").await.unwrap();
    assert_eq!(forged.status(), StatusCode::TOO_MANY_REQUESTS, "a forged left entry is not read");
    let other = post_from(&proxied, "198.51.100.2").await.unwrap();
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED, "another client, another budget");
}
