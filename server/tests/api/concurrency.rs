use crate::helpers::on_both_backends;
use futures_util::future::join_all;
use serde_json::json;

on_both_backends! {
    async fn hundred_concurrent_publishes_get_seqs_one_to_hundred(app) {
        let seller = app.register("ana").await;
        let publishes = (0..100).map(|i| {
            let body = json!({"seller_id": seller.id, "type": "test", "title": format!("n{i}"), "body": "b"});
            let app = &app;
            async move { app.ingest(&body).await }
        });
        let mut seqs = Vec::new();
        for response in join_all(publishes).await {
            assert_eq!(response.status(), 201);
            let body: serde_json::Value = response.json().await.unwrap();
            seqs.push(body["notification"]["seq"].as_i64().unwrap());
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=100).collect::<Vec<i64>>());

        // And the stored log agrees: no gaps, no duplicates.
        let page: serde_json::Value =
            app.get_as(&seller, "/api/notifications/delta?limit=500").await.json().await.unwrap();
        let stored: Vec<i64> =
            page["notifications"].as_array().unwrap().iter().map(|n| n["seq"].as_i64().unwrap()).collect();
        assert_eq!(stored, (1..=100).collect::<Vec<i64>>());
        assert_eq!(page["last_seq"], 100);
    }
}
