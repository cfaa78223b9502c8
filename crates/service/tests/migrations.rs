//! A database made by the first schema version, with data in it, opened by today's service:
//! the migrations bring it up to date at start and nothing in it is lost. Its users sign in
//! and keep their sessions, its keys list and verify as they did (and refuse as they did), its
//! usage, denials and audit rows still read, and every newer feature works on its rows.
//!
//! The databases are committed fixtures (`tests/fixtures/schema_v1.*.sql`), frozen as version 1
//! wrote them. They hold no secret: the test makes the keys, the password and the session
//! token at run time and writes their hashes over the fixture's placeholders.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, SaltString};
use common::{Db, TestDb, TestService};
use keyhaven_api::keyfmt;
use keyhaven_service::{random_password, ManualClock};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// 2026-03-10T10:20:00Z, the fixtures' "now".
const T0: i64 = 1_773_138_000;

const ACME: &str = "ten_V1fixtureAcme0000000";
const GLOBEX: &str = "ten_V1fixtureGlobex00000";
const OWNER: &str = "usr_V1fixtureOwner000000";
const MEMBER: &str = "usr_V1fixtureMember00000";
const DEPLOY: &str = "key_V1fixtureDeploy0000";
const WEB: &str = "key_V1fixtureWeb0000000";
const OLD: &str = "key_V1fixtureOld0000000";
const TEMP: &str = "key_V1fixtureTemp000000";
const GLOBEX_KEY: &str = "key_V1fixtureGlobex0000";
const KEY_IDS: [&str; 5] = [DEPLOY, WEB, OLD, TEMP, GLOBEX_KEY];

/// The secrets behind the fixture's hashes, made for this run.
struct Secrets {
    /// By key id.
    keys: BTreeMap<&'static str, String>,
    /// The acme owner's password.
    password: String,
    /// The acme member's session, started under version 1.
    session: String,
}

impl Secrets {
    fn new() -> Secrets {
        let keys = KEY_IDS
            .iter()
            .map(|&id| (id, keyfmt::generate("kh_live_")))
            .collect();
        let long = format!(
            "{}{}{}",
            random_password(),
            random_password(),
            random_password()
        );
        Secrets {
            keys,
            password: random_password(),
            session: format!("khs_{}", &long[..43]),
        }
    }

    fn key(&self, id: &str) -> &str {
        &self.keys[id]
    }
}

fn sha256(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Writes the hashes of `secrets` over the fixture's placeholders, through `pool`.
macro_rules! arm {
    ($pool:expr, $secrets:expr) => {{
        let (pool, secrets) = (&$pool, &$secrets);
        for (id, key) in &secrets.keys {
            let armed =
                sqlx::query("UPDATE api_keys SET secret_hash = $1, prefix = $2 WHERE id = $3")
                    .bind(sha256(key))
                    .bind(keyfmt::display_prefix(key))
                    .bind(*id)
                    .execute(pool)
                    .await
                    .expect("a key armed");
            assert_eq!(armed.rows_affected(), 1, "key {id} is in the fixture");
        }
        let phc = argon2::Argon2::default()
            .hash_password(
                secrets.password.as_bytes(),
                &SaltString::generate(&mut OsRng),
            )
            .expect("hashed")
            .to_string();
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(phc)
            .bind(OWNER)
            .execute(pool)
            .await
            .expect("the password armed");
        sqlx::query("UPDATE sessions SET token_hash = $1 WHERE user_id = $2")
            .bind(sha256(&secrets.session))
            .bind(MEMBER)
            .execute(pool)
            .await
            .expect("the session armed");
    }};
}

/// Loads the first version's database into the empty `db` and arms it with `secrets`.
async fn load_first_version(db: &TestDb, secrets: &Secrets) {
    match db.kind {
        Db::Sqlite => {
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&db.url)
                .create_if_missing(true)
                .foreign_keys(true);
            let pool = sqlx::SqlitePool::connect_with(options).await.expect("open");
            sqlx::raw_sql(include_str!("fixtures/schema_v1.sqlite.sql"))
                .execute(&pool)
                .await
                .expect("the version 1 database loads");
            arm!(pool, secrets);
            pool.close().await;
        }
        Db::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
            sqlx::raw_sql(include_str!("fixtures/schema_v1.postgres.sql"))
                .execute(&pool)
                .await
                .expect("the version 1 database loads");
            arm!(pool, secrets);
            pool.close().await;
        }
    }
}

/// The migrations this build carries, by the files it embeds.
fn migrations_shipped(db: Db) -> i64 {
    let dir = match db {
        Db::Sqlite => "migrations",
        Db::Postgres => "migrations/postgres",
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let n = std::fs::read_dir(&dir)
        .expect("the migrations folder")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count();
    i64::try_from(n).expect("a count")
}

/// What the first version's tables hold, table by table.
async fn counts(db: &TestDb) -> Vec<(&'static str, i64)> {
    let mut tables = vec![
        ("tenants", "SELECT COUNT(*) FROM tenants"),
        ("users", "SELECT COUNT(*) FROM users"),
        ("sessions", "SELECT COUNT(*) FROM sessions"),
        ("api_keys", "SELECT COUNT(*) FROM api_keys"),
        (
            "revoked keys",
            "SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NOT NULL",
        ),
        ("audit_log", "SELECT COUNT(*) FROM audit_log"),
    ];
    // SQLite's first version had no usage tables; PostgreSQL's did.
    if db.kind == Db::Postgres {
        tables.extend([
            ("usage_hourly", "SELECT COUNT(*) FROM usage_hourly"),
            ("calls", "SELECT SUM(count) FROM usage_hourly"),
            ("denials", "SELECT COUNT(*) FROM denials"),
        ]);
    }
    let mut out = Vec::new();
    for (name, sql) in tables {
        out.push((name, db.count(sql).await));
    }
    out
}

/// A bucket of a usage series by its start.
fn bucket<'a>(usage: &'a Value, t: &str) -> &'a Value {
    usage["series"]
        .as_array()
        .expect("series")
        .iter()
        .find(|b| b["t"] == t)
        .unwrap_or_else(|| panic!("a bucket at {t} in {usage}"))
}

scenario!(
    #[tokio::test]
    a_database_of_the_first_schema_version_is_migrated_at_start_with_its_data_intact
);
async fn a_database_of_the_first_schema_version_is_migrated_at_start_with_its_data_intact(db: Db) {
    let secrets = Secrets::new();
    let fresh = TestDb::new(db).await;
    load_first_version(&fresh, &secrets).await;
    assert_eq!(
        fresh
            .count("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
            .await,
        1,
        "the fixture is at the first version"
    );
    let before = counts(&fresh).await;

    let clock = ManualClock::at(T0);
    // No background flush: reads flush what they need.
    let quiet = |c: &mut keyhaven_service::ServiceConfig| {
        c.usage_flush_interval = Duration::from_secs(3600)
    };
    let t = common::start_on(Arc::new(fresh), quiet, Arc::new(clock.clone())).await;
    remember(&t, &secrets);

    // Every migration ran, and the first version's rows are all there.
    assert_eq!(
        t.count_in_db("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
            .await,
        migrations_shipped(db)
    );
    assert_eq!(
        counts(&t.db).await,
        before,
        "row counts after the migration"
    );

    // The session started under version 1 still works, for its user.
    let member = secrets.session.as_str();
    let me = t.call(Method::GET, "/v1/me", Some(member), None).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.json["id"], MEMBER);
    assert_eq!(me.json["role"], "member");
    assert_eq!(me.json["tenant_id"], ACME);

    // The keys list as they were stored, with the fields later versions added left empty.
    let list = t.call(Method::GET, "/v1/keys", Some(member), None).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let keys: BTreeMap<&str, &Value> = list.json["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| (k["id"].as_str().expect("id"), k))
        .collect();
    assert_eq!(
        keys.keys().copied().collect::<Vec<_>>(),
        [DEPLOY, OLD, TEMP, WEB],
        "acme's keys, and only acme's"
    );
    let prefix = |id: &str| keyfmt::display_prefix(secrets.key(id)).to_owned();
    let expected = [
        json!({"id": DEPLOY, "tenant_id": ACME, "name": "deploy bot", "prefix": prefix(DEPLOY),
               "scopes": ["read", "write"], "status": "active",
               "created_at": "2026-03-02T12:00:00Z", "last_used_at": "2026-03-10T09:00:00Z",
               "expires_at": null, "revoked_at": null, "allowed_origins": [], "allowed_ips": [],
               "rate_limit_per_hour": null, "created_by": OWNER,
               "replaced_by": null, "replaces": null}),
        json!({"id": OLD, "tenant_id": ACME, "name": "old", "prefix": prefix(OLD),
               "scopes": ["read"], "status": "revoked",
               "created_at": "2026-03-02T12:00:00Z", "last_used_at": "2026-03-05T08:00:00Z",
               "expires_at": null, "revoked_at": "2026-03-09T23:00:00Z",
               "allowed_origins": [], "allowed_ips": [], "rate_limit_per_hour": null,
               "created_by": OWNER, "replaced_by": null, "replaces": null}),
        json!({"id": TEMP, "tenant_id": ACME, "name": "temp", "prefix": prefix(TEMP),
               "scopes": ["read"], "status": "expired",
               "created_at": "2026-03-02T12:00:00Z", "last_used_at": null,
               "expires_at": "2026-03-09T23:00:00Z", "revoked_at": null,
               "allowed_origins": [], "allowed_ips": [], "rate_limit_per_hour": null,
               "created_by": OWNER, "replaced_by": null, "replaces": null}),
        json!({"id": WEB, "tenant_id": ACME, "name": "web app", "prefix": prefix(WEB),
               "scopes": ["read"], "status": "active",
               "created_at": "2026-03-05T08:00:00Z", "last_used_at": null,
               "expires_at": "2026-04-10T10:20:00Z", "revoked_at": null,
               "allowed_origins": ["https://app.acme.test"],
               "allowed_ips": ["127.0.0.1/32", "10.0.0.0/8"], "rate_limit_per_hour": 100,
               "created_by": MEMBER, "replaced_by": null, "replaces": null}),
    ];
    for want in expected {
        let id = want["id"].as_str().expect("id");
        assert_eq!(keys[id], &want, "key {id} after the migration");
    }

    // Its keys verify, and refuse, as they did: scopes, origins, IPs, revocation, expiry.
    let web_origin = [("Origin", "https://app.acme.test")];
    assert_eq!(
        t.ping_with(secrets.key(DEPLOY), "?scope=write", &[])
            .await
            .status,
        200
    );
    let web = t.ping_with(secrets.key(WEB), "", &web_origin).await;
    assert_eq!(web.status, 200, "{}", web.body);
    assert_eq!(
        web.header("x-ratelimit-limit"),
        Some("100"),
        "the hourly limit"
    );
    t.ping_with(secrets.key(WEB), "", &[("Origin", "https://evil.test")])
        .await
        .assert_error(403, "origin_not_allowed");
    t.ping_with(secrets.key(WEB), "?scope=write", &web_origin)
        .await
        .assert_error(403, "scope_missing");
    t.ping_with(secrets.key(OLD), "", &[])
        .await
        .assert_error(401, "unauthorized");
    t.ping_with(secrets.key(TEMP), "", &[])
        .await
        .assert_error(401, "unauthorized");
    let globex = t.ping_with(secrets.key(GLOBEX_KEY), "", &[]).await;
    assert_eq!(globex.status, 200, "{}", globex.body);
    assert_eq!(
        globex.header("x-ratelimit-limit"),
        Some("10000"),
        "the default tier"
    );

    // The owner signs in with the password version 1 stored (the email in another case).
    let owner = t.login("owner@acme.test", &secrets.password).await;

    // The login just made, then the audit rows version 1 wrote (acme's only), newest first.
    let audit = t
        .call(Method::GET, "/v1/audit?limit=100", Some(&owner), None)
        .await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    let rows: Vec<(String, String, String)> = audit
        .json
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            let s = |f: &str| r[f].as_str().unwrap_or("-").to_owned();
            (s("at"), s("action"), s("target"))
        })
        .collect();
    let row = |at: &str, action: &str, target: &str| (at.into(), action.into(), target.into());
    assert_eq!(
        rows,
        [
            row("2026-03-10T10:20:00Z", "login", OWNER),
            row("2026-03-10T08:00:00Z", "login", MEMBER),
            row("2026-03-09T23:00:00Z", "key.revoke", OLD),
            row("2026-03-05T08:00:00Z", "key.create", WEB),
            row("2026-03-02T12:00:00Z", "key.create", TEMP),
            row("2026-03-02T12:00:00Z", "key.create", OLD),
            row("2026-03-02T12:00:00Z", "key.create", DEPLOY),
            row("2026-03-01T09:05:00Z", "user.add", MEMBER),
            row("2026-03-01T09:00:00Z", "user.add", OWNER),
        ]
    );

    // Usage: what version 1 counted (PostgreSQL's first schema had usage tables, SQLite's did
    // not), with this hour's calls, counted since the migration, added in.
    let usage = t
        .call(
            Method::GET,
            &format!("/v1/keys/{DEPLOY}/usage"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(usage.status, 200, "{}", usage.body);
    assert_eq!(bucket(&usage.json, "2026-03-10T10:00:00Z")["allowed"], 1);
    let web_usage = t
        .call(
            Method::GET,
            &format!("/v1/keys/{WEB}/usage"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(
        bucket(&web_usage.json, "2026-03-10T10:00:00Z"),
        &json!({"t": "2026-03-10T10:00:00Z", "allowed": 1,
                "denied": {"origin_not_allowed": 1, "scope_missing": 1}})
    );
    let old_denials = t
        .call(
            Method::GET,
            &format!("/v1/keys/{OLD}/denials"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(
        old_denials.json[0]["code"], "revoked",
        "{}",
        old_denials.body
    );
    if db == Db::Postgres {
        assert_eq!(
            bucket(&usage.json, "2026-03-10T08:00:00Z"),
            &json!({"t": "2026-03-10T08:00:00Z", "allowed": 12, "denied": {}})
        );
        assert_eq!(
            bucket(&usage.json, "2026-03-10T09:00:00Z"),
            &json!({"t": "2026-03-10T09:00:00Z", "allowed": 40,
                    "denied": {"scope_missing": 2}})
        );
        assert_eq!(
            bucket(&web_usage.json, "2026-03-10T09:00:00Z"),
            &json!({"t": "2026-03-10T09:00:00Z", "allowed": 5,
                    "denied": {"origin_not_allowed": 1}})
        );
        let by_day = t
            .call(
                Method::GET,
                &format!("/v1/keys/{OLD}/usage?granularity=day&from=2026-03-05T00:00:00Z&to=2026-03-05T23:59:59Z"),
                Some(&owner),
                None,
            )
            .await;
        assert_eq!(
            bucket(&by_day.json, "2026-03-05T00:00:00Z")["allowed"],
            7,
            "{}",
            by_day.body
        );
        let denials = t
            .call(
                Method::GET,
                &format!("/v1/keys/{DEPLOY}/denials"),
                Some(&owner),
                None,
            )
            .await;
        assert_eq!(
            denials.json,
            json!([{"at": "2026-03-10T09:15:00Z", "code": "scope_missing",
                    "ip": "10.1.2.3", "origin": null}]),
            "{}",
            denials.body
        );
    }

    // What later versions added works on the first version's rows: rolling (replaced_by), a
    // change of settings, suspending a tenant (its new columns).
    let (new, rolled) = t.roll_key(&owner, DEPLOY, 0).await;
    assert_eq!(rolled["meta"]["replaces"], DEPLOY, "{rolled}");
    let retired = t
        .call(
            Method::GET,
            &format!("/v1/keys/{DEPLOY}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(
        retired.json["replaced_by"], rolled["meta"]["id"],
        "{}",
        retired.body
    );
    assert_eq!(retired.json["status"], "revoked");
    t.ping_with(secrets.key(DEPLOY), "", &[])
        .await
        .assert_error(401, "unauthorized");
    assert_eq!(t.ping_with(&new, "?scope=write", &[]).await.status, 200);
    let renamed = t
        .call(
            Method::PATCH,
            &format!("/v1/keys/{WEB}"),
            Some(&owner),
            Some(json!({"name": "web app (v2)"})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(
        renamed.json["allowed_ips"],
        json!(["127.0.0.1/32", "10.0.0.0/8"])
    );
    assert_eq!(
        t.ping_with(secrets.key(WEB), "", &web_origin).await.status,
        200
    );
    t.service
        .update_tenant(
            GLOBEX,
            &keyhaven_api::UpdateTenantRequest {
                suspended: Some(true),
                ..Default::default()
            },
        )
        .await
        .expect("suspended");
    t.ping_with(secrets.key(GLOBEX_KEY), "", &[])
        .await
        .assert_error(403, "tenant_suspended");
    let (fresh_key, _) = t
        .create_key(&owner, json!({"name": "made after", "scopes": ["read"]}))
        .await;
    assert_eq!(t.ping_with(&fresh_key, "", &[]).await.status, 200);

    // A restart migrates nothing more and keeps it all, the old session included.
    let stored = t.stop_keeping_data().await;
    let after = counts(&stored).await;
    let t = common::start_on(stored, quiet, Arc::new(clock.clone())).await;
    remember(&t, &secrets);
    t.remember(&owner);
    t.remember(&new);
    assert_eq!(
        t.count_in_db("SELECT COUNT(*) FROM _sqlx_migrations").await,
        migrations_shipped(db)
    );
    assert_eq!(counts(&t.db).await, after);
    let list = t.call(Method::GET, "/v1/keys", Some(member), None).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.json["keys"].as_array().expect("keys").len(), 6);
    assert_eq!(t.ping_with(&new, "", &[]).await.status, 200);
    t.stop().await;
}

fn remember(t: &TestService, secrets: &Secrets) {
    for key in secrets.keys.values() {
        t.remember(key);
    }
    t.remember(&secrets.password);
    t.remember(&secrets.session);
}
