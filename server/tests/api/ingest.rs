use crate::helpers::{INGEST_KEY, on_both_backends, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends! {
    async fn ingest_stores_and_returns_the_full_notification(app) {
        let seller = app.register("ana").await;
        let body = json!({"seller_id": seller.id, "type": "order.created", "title": "New order", "body": "2 items", "data": {"order_id": 7}});
        let response = app.ingest(&body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let n = response.json::<Value>().await.unwrap()["notification"].clone();
        for field in ["id", "seq", "type", "title", "body", "data", "created_at", "sent_at", "received_at", "read_at"] {
            assert!(n.get(field).is_some(), "missing {field}: {n}");
        }
        assert!(n["id"].is_i64());
        assert_eq!(n["seq"], 1);
        assert_eq!(n["type"], "order.created");
        assert_eq!(n["data"], json!({"order_id": 7}));
        assert!(chrono::DateTime::parse_from_rfc3339(n["created_at"].as_str().unwrap()).is_ok(), "{n}");
        assert_eq!(n["received_at"], Value::Null);

        // Without data, data is {}; seqs follow on.
        let second = app.publish(&seller, "again").await;
        assert_eq!(second["seq"], 2);
        assert_eq!(second["data"], json!({}));
    }

    async fn ingest_for_an_unknown_seller_is_404(app) {
        let response = app.ingest(&json!({"seller_id": 999_999, "type": "test", "title": "t", "body": "b"})).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "not_found");
    }

    async fn batch_is_stored_in_request_order_across_sellers(app) {
        let a = app.register("a").await;
        let b = app.register("b").await;
        let items: Vec<Value> = (0..5)
            .map(|i| json!({"seller_id": if i % 2 == 0 { a.id } else { b.id }, "type": "test", "title": format!("n{i}"), "body": "b"}))
            .collect();
        let response = app.ingest_batch(&json!({"notifications": items})).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let stored = response.json::<Value>().await.unwrap()["notifications"].as_array().unwrap().clone();
        let titles: Vec<&str> = stored.iter().map(|n| n["title"].as_str().unwrap()).collect();
        assert_eq!(titles, ["n0", "n1", "n2", "n3", "n4"]);
        let seqs: Vec<i64> = stored.iter().map(|n| n["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, [1, 1, 2, 2, 3]);
    }

    async fn a_batch_with_one_bad_item_stores_nothing(app) {
        let a = app.register("a").await;
        let mut items: Vec<Value> = (0..4).map(|i| json!({"seller_id": a.id, "type": "test", "title": format!("n{i}"), "body": "b"})).collect();
        items[3]["title"] = json!("");
        let response = app.ingest_batch(&json!({"notifications": items.clone()})).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let message = response.json::<Value>().await.unwrap()["message"].as_str().unwrap().to_owned();
        assert!(message.starts_with("notifications[3].title"), "{message}");

        items[3] = json!({"seller_id": 999_999, "type": "test", "title": "t", "body": "b"});
        let response = app.ingest_batch(&json!({"notifications": items})).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let message = response.json::<Value>().await.unwrap()["message"].as_str().unwrap().to_owned();
        assert!(message.contains("notifications[3]"), "{message}");

        let stats: Value = app.get_as(&a, "/api/notifications/stats").await.json().await.unwrap();
        assert_eq!(stats["total"], 0);
        assert_eq!(stats["last_seq"], 0);
    }

    async fn a_batch_of_500_is_accepted_and_501_refused(app) {
        let a = app.register("a").await;
        let item = json!({"seller_id": a.id, "type": "test", "title": "t", "body": "b"});
        let response = app.ingest_batch(&json!({"notifications": vec![item.clone(); 500]})).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let stored = response.json::<Value>().await.unwrap()["notifications"].as_array().unwrap().len();
        assert_eq!(stored, 500);

        let response = app.ingest_batch(&json!({"notifications": vec![item; 501]})).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let response = app.ingest_batch(&json!({"notifications": []})).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test]
async fn ingest_without_a_configured_key_is_503_ingest_disabled() {
    let app = spawn_app_with(|c| c.security.ingest_api_key = None).await;
    let response = app.ingest(&json!({"seller_id": 1, "type": "test", "title": "t", "body": "b"})).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "ingest_disabled");
}

#[tokio::test]
async fn ingest_with_a_wrong_or_missing_key_is_401() {
    let app = spawn_app().await;
    let body = json!({"seller_id": 1, "type": "test", "title": "t", "body": "b"});
    for key in [None, Some("wrong"), Some("test-ingest-ke")] {
        let mut request = app.http.post(app.url("/api/notifications")).json(&body);
        if let Some(key) = key {
            request = request.header("X-Api-Key", key);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{key:?}");
    }
}

#[tokio::test]
async fn malformed_json_is_400_and_wrong_types_are_422_naming_the_field() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.url("/api/notifications"))
        .header("X-Api-Key", INGEST_KEY)
        .header("Content-Type", "application/json")
        .body("{\"seller_id\": 1, ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "malformed_json");

    let cases = [
        (json!({"seller_id": "1", "type": "test", "title": "t", "body": "b"}), "seller_id"),
        (json!({"seller_id": 1.5, "type": "test", "title": "t", "body": "b"}), "seller_id"),
        (json!({"seller_id": 1, "type": "test", "body": "b"}), "title"),
        (json!({"seller_id": 1, "type": "Not A Type", "title": "t", "body": "b"}), "type"),
        (json!({"seller_id": 1, "type": "test", "title": "t", "body": "b", "data": [1]}), "data"),
        (
            json!({"seller_id": 1, "type": "test", "title": "t", "body": "b", "data": {"x": "y".repeat(9000)}}),
            "data",
        ),
    ];
    for (body, field) in cases {
        let response = app.ingest(&body).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "validation_failed");
        assert!(error["message"].as_str().unwrap().starts_with(field), "{field}: {error}");
    }
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let app = spawn_app().await;
    let big = json!({"seller_id": 1, "type": "test", "title": "t", "body": "x".repeat(70 * 1024)});
    let response = app.ingest(&big).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "payload_too_large");

    // The batch route takes up to 1 MiB: 200 KiB passes the size check (and
    // fails validation on the unknown seller), 1.1 MiB does not.
    let items = vec![json!({"seller_id": 1, "type": "test", "title": "t", "body": "x".repeat(1000)}); 200];
    let response = app.ingest_batch(&json!({"notifications": items})).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let items = vec![json!({"seller_id": 1, "type": "test", "title": "t", "body": "x".repeat(1900)}); 600];
    let response = app.ingest_batch(&json!({"notifications": items})).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// Writes a whole request with a `body_len`-byte JSON body over a raw
/// connection, as a client that does not look for an early answer does,
/// then reads the status line and the body of the answer. Panics if the
/// server reset the connection while the body was still being sent.
async fn post_whole_body(app: &crate::helpers::TestApp, path: &str, body_len: usize) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.url("").trim_start_matches("http://").trim_end_matches('/').to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nX-Api-Key: {INGEST_KEY}\r\nContent-Length: {body_len}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 64 * 1024];
    let mut written = 0;
    while written < body_len {
        let n = chunk.len().min(body_len - written);
        stream
            .write_all(&chunk[..n])
            .await
            .unwrap_or_else(|e| panic!("reset after {written} of {body_len} bytes: {e}"));
        written += n;
    }
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("the answer must be readable");
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{answer}"));
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {answer}")))
}

#[tokio::test]
async fn a_far_too_large_body_gets_its_413_after_the_client_sent_it_all() {
    let app = spawn_app().await;
    for path in ["/api/notifications", "/api/notifications/batch", "/api/auth/login"] {
        let (status, body) = post_whole_body(&app, path, 4 * 1024 * 1024).await;
        assert_eq!(status, 413, "{path}: {body}");
        assert_eq!(body["error"], "payload_too_large", "{path}: {body}");
    }
}

#[tokio::test]
async fn a_client_waiting_for_100_continue_gets_the_413_without_sending_its_body() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let address = app.url("").trim_start_matches("http://").trim_end_matches('/').to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /api/notifications HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nX-Api-Key: {INGEST_KEY}\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        4 * 1024 * 1024
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("answered without waiting for the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "no 100 Continue, a 413 at once: {answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
}
