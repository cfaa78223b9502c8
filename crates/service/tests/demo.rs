//! The demo: users of each role, keys, and a bounded trickle of traffic that gives usage
//! something to show.

#[macro_use]
mod common;

use common::Db;

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::Method;

scenario!(
    #[tokio::test]
    the_demo_seeds_users_and_keys_and_its_traffic_shows_in_usage
);
async fn the_demo_seeds_users_and_keys_and_its_traffic_shows_in_usage(db: Db) {
    let t = common::start(db).await;
    let seeded = t.service.seed_demo().await.expect("seed");
    let roles: Vec<&str> = seeded.logins.iter().map(|l| l.role.as_str()).collect();
    assert_eq!(roles, ["owner", "member", "support", "admin"]);
    let owner = &seeded.logins[0];
    let password = owner.password.clone().expect("new user");
    t.remember(&password);
    let token = t.login(owner.email, &password).await;

    let addr: SocketAddr = t.url.trim_start_matches("http://").parse().expect("addr");
    let traffic = seeded
        .spawn_traffic(addr, 12, Duration::from_millis(1))
        .expect("traffic starts");
    assert_eq!(traffic.await.expect("the task ends by itself"), 12);

    let usage = t.call(Method::GET, "/v1/usage", Some(&token), None).await;
    assert_eq!(usage.status, 200, "{}", usage.body);
    let keys = usage.json["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 3);
    let (mut allowed, mut denied) = (0, std::collections::BTreeMap::new());
    for k in keys {
        for p in k["series"].as_array().expect("series") {
            allowed += p["allowed"].as_u64().expect("n");
            for (code, n) in p["denied"].as_object().expect("denied") {
                *denied.entry(code.clone()).or_insert(0) += n.as_u64().expect("n");
            }
        }
    }
    assert_eq!(allowed, 8);
    assert_eq!(denied.get("origin_not_allowed"), Some(&2));
    assert_eq!(denied.get("scope_missing"), Some(&2));

    // A second seed finds the users and adds no keys; traffic needs keys and 127.0.0.1.
    let again = t.service.seed_demo().await.expect("seed again");
    assert!(again.logins.iter().all(|l| l.password.is_none()));
    assert!(again
        .spawn_traffic(addr, 5, Duration::from_millis(1))
        .is_none());
    let fresh = common::start(db).await;
    let seeded = fresh.service.seed_demo().await.expect("seed");
    let elsewhere: SocketAddr = "192.0.2.1:8787".parse().expect("addr");
    assert!(seeded
        .spawn_traffic(elsewhere, 5, Duration::from_millis(1))
        .is_none());
}
