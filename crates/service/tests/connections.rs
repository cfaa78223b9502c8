//! What a slow or idle client can hold, over real sockets: a connection that never finishes its
//! headers is cut off, connections past the cap are closed at once, and a stop ends within its
//! deadline whatever the clients do, with the usage counted until then written. Storage plays
//! no part here, so these run on SQLite only.

#[macro_use]
mod common;

use std::time::Duration;

use common::Db;
use keyhaven_api::Role;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A bound on every wait below: far above the limits the services are given, so that only a
/// connection that is never closed makes a test fail.
const PATIENCE: Duration = Duration::from_secs(20);

/// Whether the server closed `stream` (end of file or a reset) within `PATIENCE`.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(PATIENCE, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await
    .is_ok()
}

fn addr_of(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let t = common::start_with(Db::Sqlite, |c| {
        c.header_read_timeout = Duration::from_millis(300);
    })
    .await;
    let addr = addr_of(&t.url);
    let mut slow = TcpStream::connect(&addr).await.expect("connect");
    slow.write_all(b"GET /v1/health HTTP/1.1\r\nHost: keyhaven\r\n")
        .await
        .expect("write");
    assert!(
        closed_by_server(&mut slow).await,
        "a half-sent request holds its connection"
    );

    // One that sends nothing at all is cut off the same way.
    let mut silent = TcpStream::connect(&addr).await.expect("connect");
    assert!(
        closed_by_server(&mut silent).await,
        "a silent connection stays open"
    );

    // A client that sends its request promptly is answered.
    let ok = t.call(reqwest::Method::GET, "/v1/health", None, None).await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn a_request_whose_body_never_comes_is_answered_408() {
    let t = common::start_with(Db::Sqlite, |c| {
        c.request_timeout = Duration::from_millis(300);
    })
    .await;
    let mut slow = TcpStream::connect(addr_of(&t.url)).await.expect("connect");
    // The headers promise a body of 100 bytes; only 10 come.
    slow.write_all(
        b"POST /v1/auth/login HTTP/1.1\r\nHost: keyhaven\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"email\":",
    )
    .await
    .expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PATIENCE, slow.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "no answer and no close");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");
}

#[tokio::test]
async fn connections_past_the_cap_are_closed_at_once() {
    let t = common::start_with(Db::Sqlite, |c| {
        c.max_connections = 3;
        c.header_read_timeout = Duration::from_secs(60);
    })
    .await;
    let addr = addr_of(&t.url);
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        // A byte each, so that each is surely accepted before the next.
        s.write_all(b"G").await.expect("write");
        held.push(s);
    }
    // Give the server the chance to accept the three before the fourth.
    for s in &mut held {
        let mut buf = [0u8; 1];
        let idle = tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await;
        assert!(idle.is_err(), "a held connection was answered or closed");
    }
    let mut over = TcpStream::connect(&addr).await.expect("connect");
    assert!(
        closed_by_server(&mut over).await,
        "a fourth connection stayed open"
    );

    // Once one of the three goes, a new client is served again.
    drop(held.pop());
    let mut served = false;
    for _ in 0..50 {
        if t.call(reqwest::Method::GET, "/v1/health", None, None)
            .await
            .status
            == 200
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served, "no room again after a connection closed");
}

#[tokio::test]
async fn a_stop_ends_within_its_deadline_whatever_the_clients_do_and_keeps_the_usage() {
    let t = common::start_with(Db::Sqlite, |c| {
        c.header_read_timeout = Duration::from_secs(600);
        c.shutdown_timeout = Duration::from_millis(500);
        // Only the stop writes usage here.
        c.usage_flush_interval = Duration::from_secs(3600);
    })
    .await;
    let (_, token) = t.signed_in("o@s.test", Role::Owner, "s").await;
    let (key, meta) = t
        .create_key(&token, json!({"name": "k", "scopes": ["read"]}))
        .await;
    assert_eq!(t.ping_with(&key, "", &[]).await.status, 200);
    let id = meta["id"].as_str().expect("id").to_owned();

    // A client in the middle of its headers, and one idle on a kept-alive connection.
    let addr = addr_of(&t.url);
    let mut slow = TcpStream::connect(&addr).await.expect("connect");
    slow.write_all(b"GET /v1/health HTTP/1.1\r\n")
        .await
        .expect("write");
    let mut idle = TcpStream::connect(&addr).await.expect("connect");
    idle.write_all(b"GET /v1/health HTTP/1.1\r\nHost: keyhaven\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 512];
    let n = idle.read(&mut buf).await.expect("answer");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    let db = tokio::time::timeout(PATIENCE, t.stop_keeping_data())
        .await
        .expect("the stop waited on its clients past its deadline");
    assert!(closed_by_server(&mut slow).await);
    assert!(closed_by_server(&mut idle).await);
    // The call made just before the stop was written on the way out.
    let allowed = db
        .count(&format!(
            "SELECT COALESCE(SUM(count), 0) FROM usage_hourly WHERE key_id = '{id}' AND outcome = 'allowed'"
        ))
        .await;
    assert_eq!(allowed, 1);
}
