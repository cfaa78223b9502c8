//! The bare health route: no credentials, no storage, a fixed answer.

#[macro_use]
mod common;

use common::Db;

use reqwest::Method;
use serde_json::json;

scenario!(
    #[tokio::test]
    health_answers_ok_without_credentials
);
async fn health_answers_ok_without_credentials(db: Db) {
    let t = common::start(db).await;
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
