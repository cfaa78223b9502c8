//! The roll body on arbitrary bytes: no panic, and a grace period that passes is at most 30
//! days.
#![no_main]

use keyhaven_api::body::roll_key;
use keyhaven_api::rules::MAX_GRACE_SECONDS;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match roll_key(data) {
        Ok(request) => assert!(request.grace_seconds <= MAX_GRACE_SECONDS),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
