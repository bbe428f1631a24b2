use crate::helpers::{on_both_backends, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn seqs(list: &Value) -> Vec<i64> {
    list.as_array().expect("an array").iter().map(|n| n["seq"].as_i64().unwrap()).collect()
}

on_both_backends! {
    async fn list_is_newest_first_and_pages_with_before(app) {
        let seller = app.register("ana").await;
        for i in 0..5 {
            app.publish(&seller, &format!("n{i}")).await;
        }
        let body: Value = app.get_as(&seller, "/api/notifications").await.json().await.unwrap();
        assert_eq!(seqs(&body["notifications"]), [5, 4, 3, 2, 1]);
        let body: Value = app.get_as(&seller, "/api/notifications?limit=2&before=4").await.json().await.unwrap();
        assert_eq!(seqs(&body["notifications"]), [3, 2]);
    }

    async fn delta_pages_ascending_with_has_more_and_the_overall_last_seq(app) {
        let seller = app.register("ana").await;
        for i in 0..5 {
            app.publish(&seller, &format!("n{i}")).await;
        }
        let page: Value = app.get_as(&seller, "/api/notifications/delta?after=1&limit=2").await.json().await.unwrap();
        assert_eq!(seqs(&page["notifications"]), [2, 3]);
        assert_eq!(page["has_more"], true);
        assert_eq!(page["last_seq"], 5);

        let page: Value = app.get_as(&seller, "/api/notifications/delta?after=3").await.json().await.unwrap();
        assert_eq!(seqs(&page["notifications"]), [4, 5]);
        assert_eq!(page["has_more"], false);

        let page: Value = app.get_as(&seller, "/api/notifications/delta").await.json().await.unwrap();
        assert_eq!(seqs(&page["notifications"]).len(), 5);

        let page: Value = app.get_as(&seller, "/api/notifications/delta?after=5").await.json().await.unwrap();
        assert_eq!(seqs(&page["notifications"]), Vec::<i64>::new());
        assert_eq!(page["last_seq"], 5);
    }

    async fn ack_counts_only_rows_it_moved_to_received(app) {
        let seller = app.register("ana").await;
        let other = app.register("bo").await;
        for _ in 0..3 {
            app.publish(&seller, "n").await;
        }
        app.publish(&other, "theirs").await;

        let body: Value = app.post_as(&seller, "/api/notifications/ack", Some(&json!({"seqs": [1, 2, 99]}))).await.json().await.unwrap();
        assert_eq!(body["acknowledged"], 2);
        let body: Value = app.post_as(&seller, "/api/notifications/ack", Some(&json!({"seqs": [1, 2, 3]}))).await.json().await.unwrap();
        assert_eq!(body["acknowledged"], 1);

        let stats: Value = app.get_as(&seller, "/api/notifications/stats").await.json().await.unwrap();
        assert_eq!(stats["received"], 3);
        assert_eq!(stats["pending"], 0);

        // The other seller's seq 1 was not touched by any of this.
        let theirs: Value = app.get_as(&other, "/api/notifications/stats").await.json().await.unwrap();
        assert_eq!(theirs["received"], 0);
        let list: Value = app.get_as(&seller, "/api/notifications?limit=1").await.json().await.unwrap();
        assert!(list["notifications"][0]["received_at"].is_string());
    }

    async fn read_and_read_all_update_unread(app) {
        let seller = app.register("ana").await;
        for _ in 0..3 {
            app.publish(&seller, "n").await;
        }
        let response = app.post_as(&seller, "/api/notifications/2/read", None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let n = response.json::<Value>().await.unwrap()["notification"].clone();
        assert_eq!(n["seq"], 2);
        let first_read = n["read_at"].as_str().expect("read_at set").to_owned();

        // Reading again keeps the first read time.
        let again: Value = app.post_as(&seller, "/api/notifications/2/read", None).await.json().await.unwrap();
        assert_eq!(again["notification"]["read_at"], first_read.as_str());

        let stats: Value = app.get_as(&seller, "/api/notifications/stats").await.json().await.unwrap();
        assert_eq!(stats["unread"], 2);

        let body: Value = app.post_as(&seller, "/api/notifications/read-all", None).await.json().await.unwrap();
        assert_eq!(body["updated"], 2);
        let body: Value = app.post_as(&seller, "/api/notifications/read-all", None).await.json().await.unwrap();
        assert_eq!(body["updated"], 0);
    }

    async fn stats_report_every_contract_field(app) {
        let seller = app.register("ana").await;
        app.publish(&seller, "n").await;
        app.publish(&seller, "n").await;
        let stats: Value = app.get_as(&seller, "/api/notifications/stats").await.json().await.unwrap();
        assert_eq!(
            stats,
            json!({"total": 2, "unread": 2, "sent": 0, "received": 0, "pending": 2, "failed": 0, "last_seq": 2})
        );
    }

    async fn a_seller_cannot_read_or_change_another_sellers_rows(app) {
        let owner = app.register("owner").await;
        let intruder = app.register("intruder").await;
        app.publish(&owner, "private").await;

        let response = app.post_as(&intruder, "/api/notifications/1/read", None).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let list: Value = app.get_as(&intruder, "/api/notifications").await.json().await.unwrap();
        assert_eq!(list["notifications"], json!([]));
        let delta: Value = app.get_as(&intruder, "/api/notifications/delta").await.json().await.unwrap();
        assert_eq!(delta["notifications"], json!([]));
        let ack: Value = app.post_as(&intruder, "/api/notifications/ack", Some(&json!({"seqs": [1]}))).await.json().await.unwrap();
        assert_eq!(ack["acknowledged"], 0);
        let read_all: Value = app.post_as(&intruder, "/api/notifications/read-all", None).await.json().await.unwrap();
        assert_eq!(read_all["updated"], 0);

        let stats: Value = app.get_as(&owner, "/api/notifications/stats").await.json().await.unwrap();
        assert_eq!(stats["unread"], 1);
        assert_eq!(stats["received"], 0);
    }

    async fn test_notification_goes_to_the_caller(app) {
        let seller = app.register("ana").await;
        let response = app.post_as(&seller, "/api/notifications/test", None).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let n = response.json::<Value>().await.unwrap()["notification"].clone();
        assert_eq!(n["type"], "test");
        assert_eq!(n["seq"], 1);
    }
}

#[tokio::test]
async fn limits_are_clamped_or_refused_and_bad_numbers_named() {
    let app = spawn_app().await;
    let seller = app.register("ana").await;
    // More than the 500 a page may hold, so a clamp shows.
    let items: Vec<Value> = (0..501)
        .map(|i| json!({"seller_id": seller.id, "type": "test", "title": format!("n{i}"), "body": "b"}))
        .collect();
    let stored = app.ingest_batch(&json!({"notifications": &items[..500]})).await;
    assert_eq!(stored.status(), StatusCode::CREATED);
    app.publish(&seller, "the 501st").await;
    for path in ["/api/notifications?limit=100000", "/api/notifications/delta?limit=100000"] {
        let body: Value = app.get_as(&seller, path).await.json().await.unwrap();
        assert_eq!(seqs(&body["notifications"]).len(), 500, "{path}: clamped to 500 of 501");
    }
    let delta: Value = app.get_as(&seller, "/api/notifications/delta?limit=501").await.json().await.unwrap();
    assert_eq!(delta["has_more"], true);

    for (path, field) in [
        ("/api/notifications?limit=0", "limit"),
        ("/api/notifications?limit=abc", "limit"),
        ("/api/notifications?before=x", "before"),
        ("/api/notifications/delta?limit=-1", "limit"),
        ("/api/notifications/delta?after=-1", "after"),
        ("/api/notifications/delta?after=one", "after"),
    ] {
        let response = app.get_as(&seller, path).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        let error: Value = response.json().await.unwrap();
        assert!(error["message"].as_str().unwrap().starts_with(field), "{path}: {error}");
    }
}

#[tokio::test]
async fn unknown_or_malformed_seqs_are_404_and_bad_ack_bodies_422() {
    let app = spawn_app().await;
    let seller = app.register("ana").await;
    for path in ["/api/notifications/1/read", "/api/notifications/abc/read", "/api/notifications/-3/read"] {
        let response = app.post_as(&seller, path, None).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    for body in [json!({"seqs": [0]}), json!({"seqs": "1"}), json!({}), json!({"seqs": vec![1; 501]})] {
        let response = app.post_as(&seller, "/api/notifications/ack", Some(&body)).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
}
