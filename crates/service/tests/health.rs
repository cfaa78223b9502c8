//! The bare health route: no credentials, no storage, a fixed answer.

mod common;

use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn health_answers_ok_without_credentials() {
    let t = common::start().await;
    let a = t.call(Method::GET, "/v1/health", None, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json, json!({"status": "ok"}));
    assert_eq!(a.header("content-type"), Some("application/json"));
    assert!(a.header("x-ratelimit-limit").is_none());
    t.call(Method::POST, "/v1/health", None, None)
        .await
        .assert_error(404, "not_found");
    t.stop().await;
}
