//! The create- and update-key request bodies on arbitrary bytes: parsed and checked as the
//! service does, without a panic; a refusal is always `validation_failed`.
#![no_main]

use keyhaven_api::ErrorCode;
use keyhaven_service::checks::{create_key_body, update_key_body};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let scopes = ["read", "write", "search"].map(String::from);
    for result in [
        create_key_body(data, &scopes, NOW),
        update_key_body(data, &scopes, NOW),
    ] {
        if let Err(e) = result {
            assert_eq!(e.code(), ErrorCode::ValidationFailed, "{e}");
        }
    }
});
