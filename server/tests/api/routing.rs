use crate::helpers::spawn_app;
use app::types::ErrorBody;

#[tokio::test]
async fn unknown_api_route_is_a_json_404() {
    let app = spawn_app().await;

    let response = app.get("/api/no-such-thing").await;
    assert_eq!(response.status(), 404);
    let body: ErrorBody = response.json().await.unwrap();
    assert_eq!(body.error, "not_found");
}

#[tokio::test]
async fn wrong_method_is_a_json_405() {
    let app = spawn_app().await;

    let response = app.http.delete(app.url("/api/health")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    let body: ErrorBody = response.json().await.unwrap();
    assert_eq!(body.error, "method_not_allowed");
}

#[tokio::test]
async fn dashboard_is_server_rendered_with_its_hydration_scripts() {
    let app = spawn_app().await;
    let seller = app.register("ana").await;

    let response = app
        .http
        .get(app.url("/"))
        .header("cookie", format!("liveshop_session={}", seller.token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("LiveShop Link Notify"), "{html}");
    assert!(html.contains("data-testid=\"connection-status\""), "{html}");
    assert!(html.contains("/pkg/liveshop.js"), "hydration script missing: {html}");
}

#[tokio::test]
async fn unknown_page_is_a_404_page() {
    let app = spawn_app().await;

    let response = app.get("/no/such/page").await;
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("Page not found"));
}
