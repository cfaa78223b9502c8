//! The facade's key management and reads against the real key service: updates that keep the
//! secret, usage in one request per account, denials with reasons, the audit log, support's
//! search and reads of other tenants, verification, and what each role can do. Inputs are
//! checked before any request.

mod common;

use keyhaven_api::{CreateKeyRequest, ErrorCode, KeyStatus, Role, UpdateKeyRequest};
use keyhaven_core::vault::names;
use keyhaven_core::{
    Error, ErrorKind, Granularity, Keyhaven, PageQuery, Secret, UsageQuery, VerifyOptions,
};

use common::{core, ping_status, ping_with, sign_in, Gateway, Svc};

fn field_of(e: Error) -> String {
    match e {
        Error::Validation { field, .. } => field,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

async fn stored(core: &Keyhaven, account: &str, key: &str) -> Secret {
    core.vault()
        .get(&core.profile(), &names::key(account, key))
        .await
        .expect("read")
        .expect("stored")
}

#[tokio::test]
async fn an_update_changes_the_rules_but_never_the_secret() {
    let svc = Svc::start(|_| {}).await;
    svc.user("ann@example.com", Role::Owner, "Acme").await;
    let data = tempfile::tempdir().expect("tempdir");
    let core = core(data.path()).await;
    let ann = sign_in(&core, &svc, "ann@example.com").await;
    let created = core
        .keys()
        .create(&ann.id, common::key_request("deploy"))
        .await
        .expect("create");
    let secret = created.secret.clone();
    let id = created.meta.id.clone();
    assert_eq!(ping_status(&svc.url(), secret.expose()).await, 200);

    // Every field at once: the answer shows the new settings, the service enforces them.
    let expires = chrono::Utc::now() + chrono::Duration::days(30);
    let meta = core
        .keys()
        .update(
            &ann.id,
            &id,
            UpdateKeyRequest {
                name: Some("deploy (ci)".into()),
                scopes: Some(vec!["read".into(), "search".into()]),
                expires_at: Some(Some(expires)),
                allowed_origins: Some(vec!["https://app.example.com".into()]),
                allowed_ips: Some(vec!["10.0.0.0/8".into()]),
                rate_limit_per_hour: Some(Some(50)),
                domain: None,
            },
        )
        .await
        .expect("update");
    assert_eq!(meta.id, id);
    assert_eq!(meta.name, "deploy (ci)");
    assert_eq!(meta.scopes, vec!["read", "search"]);
    assert_eq!(
        meta.expires_at.map(|t| t.timestamp()),
        Some(expires.timestamp())
    );
    assert_eq!(meta.allowed_origins, vec!["https://app.example.com"]);
    assert_eq!(meta.allowed_ips, vec!["10.0.0.0/8"]);
    assert_eq!(meta.rate_limit_per_hour, Some(50));
    assert_eq!(meta.prefix, created.meta.prefix, "same secret, same prefix");
    // From loopback, outside the allowed IPs: refused, with or without the allowed origin (an
    // Origin never lifts an IP list).
    assert_eq!(ping_status(&svc.url(), secret.expose()).await, 403);
    assert_eq!(
        ping_with(
            &svc.url(),
            secret.expose(),
            &[],
            Some("https://app.example.com")
        )
        .await,
        403
    );
    // With loopback allowed, the origin decides when one is sent.
    core.keys()
        .update(
            &ann.id,
            &id,
            UpdateKeyRequest {
                allowed_ips: Some(vec!["127.0.0.0/8".into()]),
                ..UpdateKeyRequest::default()
            },
        )
        .await
        .expect("update");
    assert_eq!(
        ping_with(
            &svc.url(),
            secret.expose(),
            &[("scope", "search")],
            Some("https://app.example.com")
        )
        .await,
        200
    );
    assert_eq!(
        ping_with(
            &svc.url(),
            secret.expose(),
            &[],
            Some("https://elsewhere.example.com")
        )
        .await,
        403
    );

    // Clearing: empty lists and nulls lift the rules; the secret still works unchanged.
    let meta = core
        .keys()
        .update(
            &ann.id,
            &id,
            UpdateKeyRequest {
                expires_at: Some(None),
                allowed_origins: Some(vec![]),
                allowed_ips: Some(vec![]),
                rate_limit_per_hour: Some(None),
                ..Default::default()
            },
        )
        .await
        .expect("clear");
    assert_eq!(meta.expires_at, None);
    assert!(meta.allowed_ips.is_empty() && meta.allowed_origins.is_empty());
    assert_eq!(meta.rate_limit_per_hour, None);
    assert_eq!(meta.name, "deploy (ci)", "fields not sent are kept");
    assert_eq!(ping_status(&svc.url(), secret.expose()).await, 200);
    assert_eq!(stored(&core, &ann.id, &id).await, secret);
    assert_eq!(
        core.keys().get(&ann.id, &id, None).await.expect("get"),
        meta
    );

    // The service's refusals arrive as domain errors naming the problem.
    let err = core
        .keys()
        .update(
            &ann.id,
            &id,
            UpdateKeyRequest {
                scopes: Some(vec!["admin".into()]),
                ..Default::default()
            },
        )
        .await
        .expect_err("unknown scope");
    assert_eq!(err.code(), ErrorKind::Validation);
    assert_eq!(err.service_code(), Some(ErrorCode::ValidationFailed));
    assert!(err.to_string().contains("scopes"), "{err}");
    let err = core
        .keys()
        .update(
            &ann.id,
            "key_missing",
            UpdateKeyRequest {
                name: Some("x".into()),
                ..Default::default()
            },
        )
        .await
        .expect_err("missing");
    assert_eq!(err.code(), ErrorKind::NotFound);
    core.keys().revoke(&ann.id, &id).await.expect("revoke");
    let err = core
        .keys()
        .update(
            &ann.id,
            &id,
            UpdateKeyRequest {
                name: Some("x".into()),
                ..Default::default()
            },
        )
        .await
        .expect_err("revoked");
    assert_eq!(err.code(), ErrorKind::Conflict, "{err:?}");
    assert_eq!(
        core.keys()
            .get(&ann.id, &id, None)
            .await
            .expect("get")
            .status,
        KeyStatus::Revoked
    );
}

#[tokio::test]
async fn usage_comes_in_one_request_per_account_with_denials_and_audit() {
    let svc = Svc::start(|_| {}).await;
    svc.user("ann@example.com", Role::Owner, "Acme").await;
    let gateway = Gateway::start(svc.url()).await;
    let data = tempfile::tempdir().expect("tempdir");
    let core = core(data.path()).await;
    // Through a gateway that counts requests, to prove one usage request per account.
    let ann = core
        .accounts()
        .sign_in(
            gateway.service_ref(),
            "ann@example.com",
            Secret::new(common::PASSWORD.into()),
            false,
        )
        .await
        .expect("sign in");
    let web = core
        .keys()
        .create(
            &ann.id,
            CreateKeyRequest {
                name: "web".into(),
                scopes: vec!["read".into()],
                allowed_origins: Some(vec!["https://app.example.com".into()]),
                ..Default::default()
            },
        )
        .await
        .expect("create");
    let batch = core
        .keys()
        .create(&ann.id, common::key_request("batch"))
        .await
        .expect("create");
    let url = svc.url();
    for _ in 0..3 {
        assert_eq!(
            ping_with(
                &url,
                web.secret.expose(),
                &[],
                Some("https://app.example.com")
            )
            .await,
            200
        );
    }
    for _ in 0..2 {
        assert_eq!(
            ping_with(
                &url,
                web.secret.expose(),
                &[],
                Some("https://evil.example.com")
            )
            .await,
            403
        );
    }
    assert_eq!(
        ping_with(&url, batch.secret.expose(), &[("scope", "write")], None).await,
        403
    );
    assert_eq!(ping_status(&url, batch.secret.expose()).await, 200);

    let before = gateway.control.requests_to("/v1/usage");
    let usage = core
        .accounts()
        .usage(&ann.id, UsageQuery::default())
        .await
        .expect("usage");
    assert_eq!(gateway.control.requests_to("/v1/usage"), before + 1);
    assert_eq!(usage.tenant_id, ann.tenant_id);
    assert_eq!(usage.keys.len(), 2);
    let total = |key: &str| {
        let k = usage
            .keys
            .iter()
            .find(|k| k.key_id == key)
            .expect("key in usage");
        let allowed: u64 = k.series.iter().map(|p| p.allowed).sum();
        let denied: std::collections::BTreeMap<String, u64> = k
            .series
            .iter()
            .flat_map(|p| p.denied.clone())
            .fold(Default::default(), |mut acc, (code, n)| {
                *acc.entry(code).or_default() += n;
                acc
            });
        (allowed, denied)
    };
    let (allowed, denied) = total(&web.meta.id);
    assert_eq!(allowed, 3);
    assert_eq!(denied.get("origin_not_allowed"), Some(&2));
    let (allowed, denied) = total(&batch.meta.id);
    assert_eq!(allowed, 1);
    assert_eq!(denied.get("scope_missing"), Some(&1));
    assert_eq!(usage.keys[0].series.len(), 24, "the last 24 hours by hour");

    let daily = core
        .keys()
        .usage(
            &ann.id,
            &web.meta.id,
            UsageQuery {
                granularity: Some(Granularity::Day),
                ..Default::default()
            },
        )
        .await
        .expect("key usage");
    assert_eq!(daily.key_id, web.meta.id);
    assert_eq!(daily.series.len(), 30);
    assert_eq!(daily.series.iter().map(|p| p.allowed).sum::<u64>(), 3);
    assert!(daily.last_used_at.is_some());

    let denials = core
        .keys()
        .denials(&ann.id, &web.meta.id, PageQuery::default())
        .await
        .expect("denials");
    assert_eq!(denials.len(), 2);
    assert!(denials.iter().all(|d| d.code == "origin_not_allowed"));
    assert_eq!(
        denials[0].origin.as_deref(),
        Some("https://evil.example.com")
    );
    let one = core
        .keys()
        .denials(
            &ann.id,
            &web.meta.id,
            PageQuery {
                limit: Some(1),
                tenant_id: None,
            },
        )
        .await
        .expect("one denial");
    assert_eq!(one.len(), 1);

    let audit = core
        .accounts()
        .audit(&ann.id, PageQuery::default())
        .await
        .expect("audit");
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert!(actions.contains(&"key.create"), "{actions:?}");
    assert!(audit.iter().any(|a| a.target == batch.meta.id));
    assert!(audit
        .iter()
        .all(|a| a.actor == ann.user_id || a.actor == "system"));

    // Bad inputs are refused before any request, naming the field.
    let seen = gateway.control.seen.lock().expect("seen").len();
    let far = UsageQuery {
        from: Some(chrono::Utc::now() - chrono::Duration::days(60)),
        ..Default::default()
    };
    assert_eq!(
        field_of(core.accounts().usage(&ann.id, far).await.expect_err("far")),
        "from"
    );
    let page = PageQuery {
        limit: Some(0),
        tenant_id: None,
    };
    assert_eq!(
        field_of(
            core.accounts()
                .audit(&ann.id, page)
                .await
                .expect_err("limit")
        ),
        "limit"
    );
    assert_eq!(
        field_of(
            core.keys()
                .denials(&ann.id, "a/b", PageQuery::default())
                .await
                .expect_err("id")
        ),
        "key id"
    );
    assert_eq!(
        field_of(
            core.keys()
                .update(&ann.id, &web.meta.id, UpdateKeyRequest::default())
                .await
                .expect_err("empty")
        ),
        "update"
    );
    assert_eq!(
        field_of(
            core.keys()
                .update(
                    &ann.id,
                    &web.meta.id,
                    UpdateKeyRequest {
                        allowed_ips: Some(vec!["not-an-ip".into()]),
                        ..Default::default()
                    }
                )
                .await
                .expect_err("ip")
        ),
        "allowed_ips[0]"
    );
    assert_eq!(
        gateway.control.seen.lock().expect("seen").len(),
        seen,
        "no request was sent"
    );
}

#[tokio::test]
async fn support_finds_keys_by_prefix_and_reads_any_tenant_but_changes_nothing() {
    let svc = Svc::start(|_| {}).await;
    svc.user("ann@example.com", Role::Owner, "Acme").await;
    svc.user("sue@keyhaven.example", Role::Support, "Keyhaven Support")
        .await;
    let data = tempfile::tempdir().expect("tempdir");
    let core = core(data.path()).await;
    let ann = sign_in(&core, &svc, "ann@example.com").await;
    let key = core
        .keys()
        .create(&ann.id, common::key_request("customer key"))
        .await
        .expect("create");
    assert_eq!(
        ping_with(&svc.url(), key.secret.expose(), &[("scope", "write")], None).await,
        403
    );
    let sue = sign_in(&core, &svc, "sue@keyhaven.example").await;
    assert_eq!(sue.role, Role::Support);

    // What support can do, without asking the service.
    let caps = core.accounts().capabilities(&sue.id).expect("capabilities");
    assert!(caps.support_search && caps.tenant_reads && caps.account_usage);
    assert!(!caps.create_key && !caps.update_key && !caps.roll_key && !caps.revoke_key);
    let owner_caps = core.accounts().capabilities(&ann.id).expect("capabilities");
    assert!(owner_caps.create_key && owner_caps.roll_key && owner_caps.verify_key);
    assert!(!owner_caps.support_search && !owner_caps.tenant_reads);
    assert!(owner_caps.max_roll_grace_seconds >= 7 * 24 * 3600);

    // The prefix from a ticket finds the key, with its tenant's name.
    let found = core
        .accounts()
        .support_find_keys(&sue.id, &key.meta.prefix)
        .await
        .expect("search");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].meta.id, key.meta.id);
    assert_eq!(found[0].tenant_name, "Acme");
    let tenant = found[0].meta.tenant_id.clone();
    assert_eq!(
        field_of(
            core.accounts()
                .support_find_keys(&sue.id, "kh test")
                .await
                .expect_err("bad")
        ),
        "prefix"
    );

    // Reads of that tenant: keys, usage, denials with their reason, audit.
    let keys = core
        .accounts()
        .tenant_keys(&sue.id, &tenant)
        .await
        .expect("keys");
    assert_eq!(keys.len(), 1);
    let meta = core
        .keys()
        .get(&sue.id, &key.meta.id, Some(&tenant))
        .await
        .expect("get");
    assert_eq!(meta.name, "customer key");
    let usage = core
        .accounts()
        .usage(
            &sue.id,
            UsageQuery {
                tenant_id: Some(tenant.clone()),
                ..Default::default()
            },
        )
        .await
        .expect("usage");
    assert_eq!(usage.tenant_id, tenant);
    let usage = core
        .keys()
        .usage(
            &sue.id,
            &key.meta.id,
            UsageQuery {
                tenant_id: Some(tenant.clone()),
                ..Default::default()
            },
        )
        .await
        .expect("key usage");
    let denied: u64 = usage
        .series
        .iter()
        .filter_map(|p| p.denied.get("scope_missing"))
        .sum();
    assert_eq!(denied, 1);
    let denials = core
        .keys()
        .denials(
            &sue.id,
            &key.meta.id,
            PageQuery {
                limit: None,
                tenant_id: Some(tenant.clone()),
            },
        )
        .await
        .expect("denials");
    assert_eq!(denials[0].code, "scope_missing");
    let audit = core
        .accounts()
        .audit(
            &sue.id,
            PageQuery {
                limit: Some(10),
                tenant_id: Some(tenant.clone()),
            },
        )
        .await
        .expect("audit");
    assert!(audit.iter().any(|a| a.target == key.meta.id));
    // Without tenant_id, support reads its own (empty) tenant.
    assert!(core.keys().list(&sue.id).await.expect("own").is_empty());

    // Support changes nothing: refused before any request.
    let err = core
        .keys()
        .update(
            &sue.id,
            &key.meta.id,
            UpdateKeyRequest {
                name: Some("x".into()),
                ..Default::default()
            },
        )
        .await
        .expect_err("read-only");
    assert_eq!(err.code(), ErrorKind::Forbidden);
    assert!(err.to_string().contains("support"), "{err}");
    // An owner may not read other tenants, nor search.
    let err = core
        .accounts()
        .tenant_keys(&ann.id, "ten_other")
        .await
        .expect_err("not support");
    assert_eq!(err.code(), ErrorKind::Forbidden);
    let err = core
        .accounts()
        .support_find_keys(&ann.id, "kh_test_")
        .await
        .expect_err("not support");
    assert_eq!(err.code(), ErrorKind::Forbidden);
}

#[tokio::test]
async fn owners_verify_stored_keys_without_using_them() {
    let svc = Svc::start(|_| {}).await;
    svc.user("ann@example.com", Role::Owner, "Acme").await;
    svc.user("max@example.com", Role::Member, "Acme").await;
    let data = tempfile::tempdir().expect("tempdir");
    let core = core(data.path()).await;
    let ann = sign_in(&core, &svc, "ann@example.com").await;
    let key = core
        .keys()
        .create(
            &ann.id,
            CreateKeyRequest {
                name: "api".into(),
                scopes: vec!["read".into()],
                allowed_ips: Some(vec!["192.0.2.0/24".into()]),
                ..Default::default()
            },
        )
        .await
        .expect("create");
    let ok = core
        .keys()
        .verify(
            &ann.id,
            &key.meta.id,
            VerifyOptions {
                scope: Some("read".into()),
                ip: Some("192.0.2.7".into()),
                origin: None,
            },
        )
        .await
        .expect("verify");
    assert!(ok.valid);
    assert_eq!(ok.key_id.as_deref(), Some(key.meta.id.as_str()));
    let refused = core
        .keys()
        .verify(
            &ann.id,
            &key.meta.id,
            VerifyOptions {
                scope: Some("write".into()),
                ip: Some("192.0.2.7".into()),
                origin: None,
            },
        )
        .await
        .expect("verify");
    assert!(!refused.valid);
    assert_eq!(refused.code, Some(ErrorCode::ScopeMissing));
    let refused = core
        .keys()
        .verify(
            &ann.id,
            &key.meta.id,
            VerifyOptions {
                ip: Some("203.0.113.1".into()),
                ..Default::default()
            },
        )
        .await
        .expect("verify");
    assert_eq!(refused.code, Some(ErrorCode::IpNotAllowed));
    assert_eq!(
        field_of(
            core.keys()
                .verify(
                    &ann.id,
                    &key.meta.id,
                    VerifyOptions {
                        ip: Some("nope".into()),
                        ..Default::default()
                    }
                )
                .await
                .expect_err("ip")
        ),
        "ip"
    );
    let max = sign_in(&core, &svc, "max@example.com").await;
    let err = core
        .keys()
        .verify(&max.id, &key.meta.id, VerifyOptions::default())
        .await
        .expect_err("members do not verify");
    assert_eq!(err.code(), ErrorKind::Forbidden);
}

#[tokio::test]
async fn inputs_are_checked_before_the_network() {
    let mut svc = Svc::start(|_| {}).await;
    svc.user("ann@example.com", Role::Owner, "Acme").await;
    let data = tempfile::tempdir().expect("tempdir");
    let core = core(data.path()).await;
    let ann = sign_in(&core, &svc, "ann@example.com").await;
    svc.stop().await;
    // With the service down, bad input is a validation error, good input a network error.
    let bad = UpdateKeyRequest {
        rate_limit_per_hour: Some(Some(0)),
        ..Default::default()
    };
    assert_eq!(
        field_of(
            core.keys()
                .update(&ann.id, "key_1", bad)
                .await
                .expect_err("bad")
        ),
        "rate_limit_per_hour"
    );
    let good = UpdateKeyRequest {
        rate_limit_per_hour: Some(Some(10)),
        ..Default::default()
    };
    let err = core
        .keys()
        .update(&ann.id, "key_1", good)
        .await
        .expect_err("down");
    assert_eq!(err.code(), ErrorKind::Network);
    assert_eq!(
        field_of(
            core.accounts()
                .usage(
                    &ann.id,
                    UsageQuery {
                        tenant_id: Some("bad tenant".into()),
                        ..Default::default()
                    }
                )
                .await
                .expect_err("tenant")
        ),
        "tenant_id"
    );
    assert_eq!(
        core.accounts()
            .usage(&ann.id, UsageQuery::default())
            .await
            .expect_err("down")
            .code(),
        ErrorKind::Network
    );
    let err = core
        .keys()
        .get(&ann.id, "", None)
        .await
        .expect_err("empty id");
    assert_eq!(field_of(err), "key id");
    let err = core
        .accounts()
        .capabilities("acc_missing")
        .expect_err("no account");
    assert_eq!(err.code(), ErrorKind::NotFound);
}
