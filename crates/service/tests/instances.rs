//! Two service instances on one PostgreSQL database, as behind a load balancer: a change made
//! through one is honoured by the other within a second, although each keeps its own key cache;
//! limits and caps hold across both; a session opened on one works on the other.
//!
//! PostgreSQL only (there is nothing to share with a SQLite file): these tests need
//! `KEYHAVEN_TEST_POSTGRES_URL`, which `bash scripts/test` sets, and fail without it.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Answer, Db, TestDb, TestService};
use keyhaven_api::Role;
use keyhaven_service::{Clock, ManualClock, ServiceConfig, SystemClock};
use reqwest::Method;
use serde_json::json;

/// 2026-03-10T10:20:00Z
const T0: i64 = 1_773_138_000;

/// What the change listener's connection calls itself in `pg_stat_activity`.
const LISTENER_APPLICATION_NAME: &str = "keyhaven-service listener";

/// Instances whose key caches never age entries out on their own: only the change notices
/// that PostgreSQL delivers can make them drop a key.
fn no_backstop(c: &mut ServiceConfig) {
    c.key_cache_max_age = Duration::from_secs(3600);
    c.tiers.insert("gold".into(), 50_000);
}

async fn two_instances(
    configure: impl Fn(&mut ServiceConfig),
    clock: Arc<dyn Clock>,
) -> (TestService, TestService) {
    let db = Arc::new(TestDb::new(Db::Postgres).await);
    let a = common::start_on(db.clone(), &configure, clock.clone()).await;
    let b = common::start_on(db, &configure, clock).await;
    (a, b)
}

/// Pings `key` on `t` until `done` holds for the answer, for at most `limit`; the answer and how
/// long it took.
async fn poll_until(
    t: &TestService,
    key: &str,
    query: &str,
    limit: Duration,
    done: impl Fn(&Answer) -> bool,
) -> (Answer, Duration) {
    let start = Instant::now();
    loop {
        let a = t.ping_with(key, query, &[]).await;
        if done(&a) || start.elapsed() > limit {
            return (a, start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_through_one_instance_is_honoured_by_the_other_within_a_second() {
    let (a, b) = two_instances(no_backstop, Arc::new(SystemClock)).await;
    // Signed in through A, the session works on B too: it lives in the database.
    let (_, token) = a.signed_in("o@two.test", Role::Owner, "two").await;
    b.remember(&token);
    let (key, meta) = a
        .create_key(
            &token,
            json!({"name": "shared", "scopes": ["read", "search"]}),
        )
        .await;
    b.remember(&key);
    let id = meta["id"].as_str().expect("id").to_owned();

    // B verifies the key, and from then on serves it from its own cache.
    for _ in 0..3 {
        assert_eq!(b.ping_with(&key, "?scope=search", &[]).await.status, 200);
    }

    // An update through A: B stops granting the scope it lost.
    let patched = a
        .call(
            Method::PATCH,
            &format!("/v1/keys/{id}"),
            Some(&token),
            Some(json!({"scopes": ["read"]})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let (answer, took) = poll_until(&b, &key, "?scope=search", Duration::from_secs(1), |a| {
        a.status != 200
    })
    .await;
    answer.assert_error(403, "scope_missing");
    assert!(
        took <= Duration::from_secs(1),
        "B honoured the update after {took:?}"
    );

    // A revocation through A: B refuses the key within a second, and from then on.
    assert_eq!(b.ping_with(&key, "", &[]).await.status, 200);
    let gone = a.revoke_key(&token, &id).await;
    assert_eq!(gone.status, 204);
    let (answer, took) =
        poll_until(&b, &key, "", Duration::from_secs(1), |a| a.status != 200).await;
    answer.assert_error(401, "unauthorized");
    assert!(
        took <= Duration::from_secs(1),
        "B refused the revoked key after {took:?}"
    );
    for _ in 0..5 {
        b.ping_with(&key, "", &[])
            .await
            .assert_error(401, "unauthorized");
    }
    a.ping_with(&key, "", &[])
        .await
        .assert_error(401, "unauthorized");

    // A roll through B with no grace: A refuses the old key and accepts the new one.
    let (old, meta) = a
        .create_key(&token, json!({"name": "rolled", "scopes": ["read"]}))
        .await;
    b.remember(&old);
    let old_id = meta["id"].as_str().expect("id").to_owned();
    assert_eq!(a.ping_with(&old, "", &[]).await.status, 200, "cached in A");
    let (new, _) = b.roll_key(&token, &old_id, 0).await;
    a.remember(&new);
    let (answer, took) =
        poll_until(&a, &old, "", Duration::from_secs(1), |a| a.status != 200).await;
    answer.assert_error(401, "unauthorized");
    assert!(
        took <= Duration::from_secs(1),
        "A refused the rolled key after {took:?}"
    );
    assert_eq!(a.ping_with(&new, "", &[]).await.status, 200);

    // A tier change through A: B reports the new daily cap.
    let tenant = meta["tenant_id"].as_str().expect("tenant").to_owned();
    assert_eq!(
        b.ping_with(&new, "", &[]).await.header("x-ratelimit-limit"),
        Some("10000")
    );
    a.service
        .set_tenant_tier(&tenant, Some("gold"))
        .await
        .expect("tier set");
    let (answer, took) = poll_until(&b, &new, "", Duration::from_secs(1), |a| {
        a.header("x-ratelimit-limit") != Some("10000")
    })
    .await;
    assert_eq!(answer.header("x-ratelimit-limit"), Some("50000"));
    assert!(
        took <= Duration::from_secs(1),
        "B saw the new tier after {took:?}"
    );

    // A suspension through A: B refuses the tenant's key within a second, and takes it back
    // as quickly when the suspension is lifted.
    let suspend = |on: bool| keyhaven_api::UpdateTenantRequest {
        suspended: Some(on),
        ..Default::default()
    };
    a.service
        .update_tenant(&tenant, &suspend(true))
        .await
        .expect("suspended");
    let (answer, took) =
        poll_until(&b, &new, "", Duration::from_secs(1), |a| a.status != 200).await;
    answer.assert_error(403, "tenant_suspended");
    assert!(
        took <= Duration::from_secs(1),
        "B saw the suspension after {took:?}"
    );
    a.service
        .update_tenant(&tenant, &suspend(false))
        .await
        .expect("resumed");
    let (answer, _) = poll_until(&b, &new, "", Duration::from_secs(1), |a| a.status == 200).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

/// The backends of the instances' change listeners on the database `admin` is connected to.
async fn listener_backends<'c>(admin: impl sqlx::PgExecutor<'c>) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = $1 ORDER BY pid",
    )
    .bind(LISTENER_APPLICATION_NAME)
    .fetch_all(admin)
    .await
    .expect("pg_stat_activity")
}

/// Asserts that a poll ended with the key refused as unknown, in time.
fn refused_within_a_second(answer: &Answer, took: Duration, what: &str) {
    assert_ne!(answer.status, 200, "{what}: still accepted after {took:?}");
    answer.assert_error(401, "unauthorized");
    assert!(
        took <= Duration::from_secs(1),
        "{what}: refused after {took:?}"
    );
}

/// Terminates the backends of both instances' change listeners; their pids.
async fn terminate_listeners(admin: &sqlx::PgPool) -> Vec<i32> {
    let killed = listener_backends(admin).await;
    assert_eq!(killed.len(), 2, "one listener per instance: {killed:?}");
    for pid in &killed {
        let done: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .fetch_one(admin)
            .await
            .expect("terminate");
        assert!(done, "backend {pid} terminated");
    }
    killed
}

/// Waits (at most 5 s) until both instances listen again, on connections other than `killed`.
async fn listeners_back(admin: &sqlx::PgPool, killed: &[i32]) {
    let start = Instant::now();
    loop {
        let now = listener_backends(admin).await;
        if now.len() == 2 && now.iter().all(|pid| !killed.contains(pid)) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the listeners did not reconnect within 5 s: {now:?} (killed {killed:?})"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Revokes the key straight in the database: a change no instance is told of.
async fn revoke_unannounced(admin: &sqlx::PgPool, id: &str) {
    sqlx::query("UPDATE api_keys SET revoked_at = 1 WHERE id = $1")
        .bind(id)
        .execute(admin)
        .await
        .expect("revoked behind the service's back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_lost_its_connection_empties_the_cache_and_hears_changes_again() {
    let (a, b) = two_instances(no_backstop, Arc::new(SystemClock)).await;
    let (_, token) = a
        .signed_in("o@reconnect.test", Role::Owner, "reconnect")
        .await;
    b.remember(&token);
    let (missed, meta) = a
        .create_key(&token, json!({"name": "missed", "scopes": ["read"]}))
        .await;
    let missed_id = meta["id"].as_str().expect("id").to_owned();
    let (later, meta) = a
        .create_key(&token, json!({"name": "later", "scopes": ["read"]}))
        .await;
    let later_id = meta["id"].as_str().expect("id").to_owned();
    b.remember(&missed);
    b.remember(&later);
    // B serves both keys from its cache from now on.
    for key in [&missed, &later] {
        assert_eq!(b.ping_with(key, "", &[]).await.status, 200);
    }

    // A change B cannot hear of: written straight to the database, announced to nobody. B keeps
    // serving the key from its cache (its entries never age out in this test).
    let admin = sqlx::PgPool::connect(&a.db.url).await.expect("connect");
    revoke_unannounced(&admin, &missed_id).await;
    assert_eq!(
        b.ping_with(&missed, "", &[]).await.status,
        200,
        "served from B's cache"
    );

    // The listeners lose their connections: each instance's backend is terminated.
    let killed = terminate_listeners(&admin).await;

    // Changes may have gone unheard while it was gone, so B empties its cache: the change it
    // never heard of takes effect.
    let (answer, took) =
        poll_until(&b, &missed, "", Duration::from_secs(1), |a| a.status != 200).await;
    refused_within_a_second(&answer, took, "a key changed while B's listener was away");

    // Both listen again, on new connections.
    listeners_back(&admin, &killed).await;

    // A revocation through A reaches B through its new connection, within a second.
    assert_eq!(
        b.ping_with(&later, "", &[]).await.status,
        200,
        "cached again"
    );
    assert_eq!(a.revoke_key(&token, &later_id).await.status, 204);
    let (answer, took) =
        poll_until(&b, &later, "", Duration::from_secs(1), |a| a.status != 200).await;
    refused_within_a_second(&answer, took, "a key revoked through A after B reconnected");
    admin.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_cannot_reconnect_at_once_keeps_trying_and_empties_the_cache_when_back() {
    let (a, b) = two_instances(no_backstop, Arc::new(SystemClock)).await;
    let (_, token) = a.signed_in("o@outage.test", Role::Owner, "outage").await;
    let mut ids = Vec::new();
    for name in ["first", "second"] {
        let (key, meta) = a
            .create_key(&token, json!({"name": name, "scopes": ["read"]}))
            .await;
        b.remember(&key);
        assert_eq!(b.ping_with(&key, "", &[]).await.status, 200, "cached in B");
        ids.push((key, meta["id"].as_str().expect("id").to_owned()));
    }
    let [(first, first_id), (second, second_id)] = <[_; 2]>::try_from(ids).expect("two keys");
    // One connection, made before the database stops taking new ones.
    let admin = sqlx::pool::PoolOptions::<sqlx::Postgres>::new()
        .max_connections(1)
        .min_connections(1)
        .connect(&a.db.url)
        .await
        .expect("connect");
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&admin)
        .await
        .expect("name");
    // A database cannot close itself to connections: this is done from the server's.
    let server_url = std::env::var(common::POSTGRES_URL_VAR).expect("the server");
    let server = sqlx::PgPool::connect(&server_url).await.expect("connect");
    let allow = |on: bool| format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS {on}");

    // The database takes no new connection, and the listeners lose theirs: they cannot
    // reconnect. B empties its cache as soon as it finds that out (a change it never heard of
    // shows it).
    revoke_unannounced(&admin, &first_id).await;
    sqlx::raw_sql(&allow(false))
        .execute(&server)
        .await
        .expect("closed");
    let killed = terminate_listeners(&admin).await;
    let (answer, took) =
        poll_until(&b, &first, "", Duration::from_secs(1), |a| a.status != 200).await;
    refused_within_a_second(&answer, took, "a key changed before the outage");

    // While B waits to try again, it caches the second key, which then changes unheard; the
    // database takes connections again. B must not trust what it cached before it listened
    // again.
    assert_eq!(
        b.ping_with(&second, "", &[]).await.status,
        200,
        "cached in B"
    );
    revoke_unannounced(&admin, &second_id).await;
    sqlx::raw_sql(&allow(true))
        .execute(&server)
        .await
        .expect("open");
    listeners_back(&admin, &killed).await;
    let (answer, took) =
        poll_until(&b, &second, "", Duration::from_secs(1), |a| a.status != 200).await;
    refused_within_a_second(&answer, took, "a key changed before B's listener was back");

    // And it hears the changes made since.
    let (third, meta) = a
        .create_key(&token, json!({"name": "third", "scopes": ["read"]}))
        .await;
    b.remember(&third);
    assert_eq!(b.ping_with(&third, "", &[]).await.status, 200);
    let gone = a.revoke_key(&token, meta["id"].as_str().expect("id")).await;
    assert_eq!(gone.status, 204);
    let (answer, took) =
        poll_until(&b, &third, "", Duration::from_secs(1), |a| a.status != 200).await;
    refused_within_a_second(&answer, took, "a key revoked through A after the outage");
    admin.close().await;
    server.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_hourly_limit_and_the_daily_cap_hold_across_instances() {
    let clock = ManualClock::at(T0);
    let (a, b) = two_instances(
        |c| {
            c.tiers.insert("free".into(), 15);
            c.lockout_threshold = 10_000;
        },
        Arc::new(clock.clone()),
    )
    .await;
    let (_, token) = a.signed_in("o@limits.test", Role::Owner, "limits").await;
    const N: usize = 10;
    let (limited, _) = a
        .create_key(
            &token,
            json!({"name": "limited", "scopes": ["read"], "rate_limit_per_hour": N}),
        )
        .await;
    b.remember(&limited);

    // 40 callers at once, half through each instance.
    let calls = (0..40).map(|i| {
        let t = if i % 2 == 0 { &a } else { &b };
        t.ping_with(&limited, "", &[])
    });
    let answers = common::join_all(calls).await;
    assert_eq!(
        answers.iter().filter(|a| a.status == 200).count(),
        N,
        "exactly the hourly limit is accepted across both instances"
    );
    for refused in answers.iter().filter(|a| a.status != 200) {
        refused.assert_error(429, "rate_limited");
        assert_eq!(refused.header("retry-after"), Some("2400"));
    }
    // The headers show the tighter window. Each instance counts the daily cap in batches it
    // reserved, so its view of the day can be the tighter one (pessimistic, never generous):
    // the answers that show the hourly window have distinct counts, each counted once.
    let windows: Vec<(u64, u64, i64)> = answers
        .iter()
        .filter(|a| a.status == 200)
        .map(TestService::window)
        .collect();
    let mut hourly: Vec<u64> = windows
        .iter()
        .filter(|w| w.0 == N as u64)
        .map(|w| w.1)
        .collect();
    hourly.sort_unstable();
    let distinct = hourly.len();
    hourly.dedup();
    assert_eq!(hourly.len(), distinct, "each counted once: {windows:?}");
    assert!(hourly.iter().all(|&r| r < N as u64), "{windows:?}");
    for (limit, remaining, _) in &windows {
        assert!(*limit == N as u64 || *limit == 15, "{windows:?}");
        if *limit == 15 {
            assert!(*remaining < 15, "{windows:?}");
        }
    }

    // The tenant's daily cap of 15: 10 used, 5 left for another key, whichever instance.
    let (other, _) = a
        .create_key(&token, json!({"name": "other", "scopes": ["read"]}))
        .await;
    b.remember(&other);
    let calls = (0..20).map(|i| {
        let t = if i % 2 == 0 { &a } else { &b };
        t.ping_with(&other, "", &[])
    });
    let answers = common::join_all(calls).await;
    assert_eq!(answers.iter().filter(|a| a.status == 200).count(), 5);
    for refused in answers.iter().filter(|a| a.status != 200) {
        refused.assert_error(429, "daily_cap_reached");
    }

    // A new hour lifts the hourly limit but not the daily cap; a new day lifts both.
    clock.advance(2_400);
    b.ping_with(&limited, "", &[])
        .await
        .assert_error(429, "daily_cap_reached");
    clock.advance(13 * 3_600);
    let fresh = a.ping_with(&limited, "", &[]).await;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    assert_eq!(TestService::window(&fresh).1, N as u64 - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_creations_on_two_instances_never_pass_the_cap() {
    let (a, b) = two_instances(|c| c.max_active_keys = 2, Arc::new(SystemClock)).await;
    let (_, token) = a.signed_in("race@two.test", Role::Owner, "race").await;
    let body = || Some(json!({"name": "racer", "scopes": ["read"]}));
    let creations = (0..8).map(|i| {
        let t = if i % 2 == 0 { &a } else { &b };
        t.call(Method::POST, "/v1/keys", Some(&token), body())
    });
    let answers = common::join_all(creations).await;
    assert_eq!(
        answers.iter().filter(|a| a.status == 201).count(),
        2,
        "exactly the cap is created"
    );
    for refused in answers.iter().filter(|a| a.status != 201) {
        refused.assert_error(409, "key_limit_reached");
    }
    let listed = b.call(Method::GET, "/v1/keys", Some(&token), None).await;
    assert_eq!(listed.json["keys"].as_array().map(Vec::len), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_batches_are_spent_in_memory_and_what_is_unspent_is_given_back() {
    let clock = ManualClock::at(T0);
    let (a, b) = two_instances(
        |c| {
            c.tiers.insert("free".into(), 1_000);
            // No background give-back during the calls: only the graceful stops give back.
            c.usage_flush_interval = Duration::from_secs(3600);
        },
        Arc::new(clock.clone()),
    )
    .await;
    let (_, token) = a.signed_in("o@batch.test", Role::Owner, "batch").await;
    let (key, _) = a
        .create_key(&token, json!({"name": "busy", "scopes": ["read"]}))
        .await;
    b.remember(&key);
    for i in 0..100 {
        let t = if i % 2 == 0 { &a } else { &b };
        assert_eq!(t.ping_with(&key, "", &[]).await.status, 200);
    }
    let db = a.db.clone();
    // Each instance reserved batches far larger than one call.
    assert!(db.count("SELECT used FROM rate_daily").await > 100);
    a.stop().await;
    b.stop().await;
    assert_eq!(
        db.count("SELECT used FROM rate_daily").await,
        100,
        "the unspent calls were given back: storage counts the calls made"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_attempts_through_both_instances_lock_the_ip_out_of_both() {
    let clock = ManualClock::at(T0);
    let (a, b) = two_instances(|_| {}, Arc::new(clock.clone())).await;
    let (_, token) = a.signed_in("o@lock.test", Role::Owner, "lock").await;
    let (key, _) = a
        .create_key(&token, json!({"name": "good", "scopes": ["read"]}))
        .await;
    b.remember(&key);

    // Ten unknown keys from this IP, five through each instance: no instance saw ten itself.
    for i in 0..10 {
        let t = if i % 2 == 0 { &a } else { &b };
        t.ping_with(&keyhaven_api::keyfmt::generate("kh_live_"), "", &[])
            .await
            .assert_error(401, "unauthorized");
    }
    // B counted the tenth: it refuses the IP at once, even with a good key.
    b.ping_with(&key, "", &[])
        .await
        .assert_error(429, "ip_locked_out");
    // A hears of it within a second, for keys and logins alike.
    let (answer, took) =
        poll_until(&a, &key, "", Duration::from_secs(1), |a| a.status != 200).await;
    answer.assert_error(429, "ip_locked_out");
    assert!(
        took <= Duration::from_secs(1),
        "A locked the IP out after {took:?}"
    );
    a.call(
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"email": "o@lock.test", "password": "whatever-it-is"})),
    )
    .await
    .assert_error(429, "ip_locked_out");

    // Five minutes after the first failure, both let it try again.
    clock.advance(300);
    assert_eq!(a.ping_with(&key, "", &[]).await.status, 200);
    assert_eq!(b.ping_with(&key, "", &[]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_a_steady_pace_the_limits_cost_one_round_trip_per_thousand_calls_and_stay_exact() {
    let clock = ManualClock::at(T0);
    let (a, b) = two_instances(
        |c| {
            c.tiers.insert("free".into(), 10_000_000);
            // Only the graceful stops give back: the count below does not depend on time.
            c.usage_flush_interval = Duration::from_secs(3600);
        },
        Arc::new(clock.clone()),
    )
    .await;
    let (_, token) = a.signed_in("o@steady.test", Role::Owner, "steady").await;
    let (key, _) = a
        .create_key(
            &token,
            json!({"name": "busy", "scopes": ["read"], "rate_limit_per_hour": 1_000_000}),
        )
        .await;
    b.remember(&key);
    // Calls through both instances, 16 at a time.
    let calls = |n: usize| {
        let (a, b, key) = (&a, &b, &key);
        async move {
            let mut accepted = 0;
            for round in 0..n / 16 {
                let batch = (0..16).map(|i| {
                    let t = if (round + i) % 2 == 0 { a } else { b };
                    t.ping_with(key, "", &[])
                });
                accepted += common::join_all(batch)
                    .await
                    .iter()
                    .filter(|a| a.status == 200)
                    .count();
            }
            accepted
        }
    };
    let round_trips = || a.service.rate_round_trips() + b.service.rate_round_trips();

    // Leases grow fourfold as each runs out, from 16 calls: a few round trips to reach the pace.
    assert_eq!(calls(2_000).await, 2_000);
    let warm = round_trips();
    assert!(warm <= 4 * 5, "{warm} round trips to warm up");
    // Then: four windows (the key's hour and the tenant's day, on each instance), each leased
    // again at most once more while the pace is still rising.
    const N: usize = 8_000;
    assert_eq!(calls(N).await, N);
    let steady = round_trips() - warm;
    assert!(
        steady <= (N / 1_000) as u64 + 4,
        "{steady} round trips for {N} calls"
    );

    // Stopped, each gives back what it has not spent: storage counts exactly the calls made.
    let db = a.db.clone();
    a.stop().await;
    b.stop().await;
    let made = (2_000 + N) as i64;
    assert_eq!(db.count("SELECT used FROM rate_hourly").await, made);
    assert_eq!(db.count("SELECT used FROM rate_daily").await, made);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_one_instance_leased_and_did_not_spend_the_other_spends_after_the_flush() {
    let clock = ManualClock::at(T0);
    let (a, b) = two_instances(
        |c| c.usage_flush_interval = Duration::from_secs(3600),
        Arc::new(clock.clone()),
    )
    .await;
    let (_, token) = a.signed_in("o@lease.test", Role::Owner, "lease").await;
    const N: usize = 64;
    let (key, _) = a
        .create_key(
            &token,
            json!({"name": "shared", "scopes": ["read"], "rate_limit_per_hour": N}),
        )
        .await;
    b.remember(&key);

    // A's one call leases a sixteenth of the hour (4 calls) and keeps 3 of them unspent.
    assert_eq!(a.ping_with(&key, "", &[]).await.status, 200);
    assert_eq!(a.db.count("SELECT used FROM rate_hourly").await, 4);
    // B spends the rest of the hour; the next call is refused, A's 3 calls being leased.
    let mut on_b = 0;
    while b.ping_with(&key, "", &[]).await.status == 200 {
        on_b += 1;
        assert!(on_b <= N, "never more than the limit");
    }
    assert_eq!(on_b, N - 4);

    // At the flush A gives its 3 calls back, and after B's own flush B spends them.
    a.service.release_leases().await;
    b.service.release_leases().await;
    assert_eq!(
        a.db.count("SELECT used FROM rate_hourly").await,
        N as i64 - 3
    );
    for _ in 0..3 {
        assert_eq!(b.ping_with(&key, "", &[]).await.status, 200);
    }
    b.ping_with(&key, "", &[])
        .await
        .assert_error(429, "rate_limited");
    a.ping_with(&key, "", &[])
        .await
        .assert_error(429, "rate_limited");
    assert_eq!(a.db.count("SELECT used FROM rate_hourly").await, N as i64);
}
