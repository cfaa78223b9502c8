//! Property tests of the create- and update-key request checks (SECURITY.md #20): whatever JSON
//! body arrives, the checks never panic; they pass it, or refuse it as `validation_failed`
//! naming the field at fault (or, for a body that is not an object of the right shape, saying
//! so) — and never repeat a value that was sent.

use keyhaven_api::{body, ErrorCode};
use keyhaven_service::ServiceError;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const FIELDS: [&str; 6] = [
    "name",
    "scopes",
    "expires_at",
    "allowed_origins",
    "allowed_ips",
    "rate_limit_per_hour",
];
/// Every string value sent starts with this, so that an echo is easy to find.
const MARK: &str = "SENTVALUE";
const NOW: i64 = 1_800_000_000;

/// The create body's check (`keyhaven_api::body`), answered as the service answers it.
fn create_key_body(bytes: &[u8], scopes: &[String], now: i64) -> Result<(), ServiceError> {
    body::create_key(bytes, scopes, now)
        .map(|_| ())
        .map_err(ServiceError::from)
}

/// The update body's check, answered as the service answers it.
fn update_key_body(bytes: &[u8], scopes: &[String], now: i64) -> Result<(), ServiceError> {
    body::update_key(bytes, scopes, now)
        .map(|_| ())
        .map_err(ServiceError::from)
}

fn scopes() -> Vec<String> {
    ["read", "write", "search"].map(String::from).to_vec()
}

/// Strings that are sometimes valid for some field.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("read".to_owned()),
        Just("write".to_owned()),
        Just("https://app.example.com".to_owned()),
        Just("10.0.0.0/8".to_owned()),
        Just("2099-01-01T00:00:00Z".to_owned()),
        Just("deploy bot".to_owned()),
        any::<String>().prop_map(|s| format!("{MARK}{s}")),
        "[a-z:/.0-9]{0,30}".prop_map(|s| format!("{MARK}{s}")),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u32>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(field_name(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(FIELDS.to_vec()).prop_map(str::to_owned),
        1 => "[a-z_]{1,12}",
    ]
}

/// Bodies: mostly objects with the request's field names, sometimes any JSON, sometimes bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => proptest::collection::btree_map(field_name(), json_value(), 0..8)
            .prop_map(|m| serde_json::to_vec(&Value::Object(m.into_iter().collect())).expect("json")),
        2 => json_value().prop_map(|v| serde_json::to_vec(&v).expect("json")),
        1 => proptest::collection::vec(any::<u8>(), 0..64),
    ]
}

/// Passes, or refuses as `validation_failed`; a refusal names one of the request's fields
/// (or an entry of one), or an unknown field sent, or describes the body as a whole; no message
/// repeats a value sent.
fn assert_well_refused(result: Result<(), ServiceError>) -> Result<(), TestCaseError> {
    let Err(e) = result else { return Ok(()) };
    prop_assert_eq!(e.code(), ErrorCode::ValidationFailed, "{}", e);
    let message = e.to_string();
    prop_assert!(!message.contains(MARK), "a value was repeated: {}", message);
    match &e {
        ServiceError::Validation { field, problem } => {
            // One of the request's fields, or (update refuses them) an unknown one that was sent.
            let base = field.split(['[', '.']).next().unwrap_or("");
            prop_assert!(
                FIELDS.contains(&base) || problem.starts_with("unknown field"),
                "a field that is not the request's: {}",
                field
            );
        }
        ServiceError::InvalidBody(m) => prop_assert!(!m.is_empty()),
        other => prop_assert!(false, "unexpected refusal {:?}", other),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn create_bodies_pass_or_name_a_field(body in body()) {
        assert_well_refused(create_key_body(&body, &scopes(), NOW))?;
    }

    #[test]
    fn update_bodies_pass_or_name_a_field(body in body()) {
        assert_well_refused(update_key_body(&body, &scopes(), NOW))?;
    }
}

#[test]
fn the_checks_pass_good_bodies_and_name_bad_fields() {
    let good = json!({"name": "deploy", "scopes": ["read"], "allowed_ips": ["10.0.0.0/8"],
        "allowed_origins": ["https://app.example.com"], "rate_limit_per_hour": 5,
        "expires_at": "2099-01-01T00:00:00Z"});
    let bytes = serde_json::to_vec(&good).expect("json");
    assert!(create_key_body(&bytes, &scopes(), NOW).is_ok());
    assert!(update_key_body(&bytes, &scopes(), NOW).is_ok());
    let bad = br#"{"name": "deploy", "scopes": ["read", "admin"]}"#;
    match create_key_body(bad, &scopes(), NOW) {
        Err(ServiceError::Validation { field, .. }) => assert_eq!(field, "scopes[1]"),
        other => panic!("{other:?}"),
    }
}
