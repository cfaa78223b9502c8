//! The field rules hold to the table of cases the UI's checks are held to as well
//! (`field_rules.json`, read by a Vitest test in `ui/src/features/keys/validation.test.ts`).

use keyhaven_api::rules;
use serde_json::Value;

#[test]
fn every_case_of_the_shared_table_is_answered_as_listed() {
    let text = include_str!("field_rules.json");
    let table: Value = serde_json::from_str(text).expect("the table is JSON");
    let cases = table["cases"].as_array().expect("cases");
    assert!(cases.len() >= 50, "a table worth the name");
    let mut wrong = Vec::new();
    for case in cases {
        let rule = case["rule"].as_str().expect("rule");
        let expected = case["valid"].as_bool().expect("valid");
        let valid = match rule {
            "name" => rules::name(case["input"].as_str().expect("text")).is_ok(),
            "origin" => rules::origin(case["input"].as_str().expect("text")).is_some(),
            "ip" => rules::ip_or_cidr(case["input"].as_str().expect("text")).is_some(),
            "hourly_limit" => case["input"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .is_some_and(|n| rules::rate_limit(Some(n)).is_ok()),
            other => panic!("a rule this test does not know: {other}"),
        };
        if valid != expected {
            wrong.push(format!(
                "{rule} {:?}: expected valid={expected}",
                case["input"]
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "answered otherwise than the table:\n{}",
        wrong.join("\n")
    );
}
