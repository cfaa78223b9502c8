//! The create- and update-key request bodies on arbitrary bytes, checked as the service checks
//! them (`keyhaven_api::body`): no panic, and what passes is what the rules promise.
#![no_main]

use keyhaven_api::body::{create_key, update_key, BodyError};
use keyhaven_api::rules::MAX_LIST_ENTRIES;
use keyhaven_api::MAX_NAME_CHARS;
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_800_000_000;

fn refused_clearly(e: &BodyError) {
    match e {
        BodyError::Body(message) => assert!(!message.is_empty()),
        BodyError::Field(e) => assert!(!e.field.is_empty() && !e.problem.is_empty()),
    }
}

fuzz_target!(|data: &[u8]| {
    let scopes = ["read", "write", "search"].map(String::from);
    match create_key(data, &scopes, NOW) {
        Ok(fields) => {
            assert!(!fields.name.is_empty() && fields.name.chars().count() <= MAX_NAME_CHARS);
            assert_eq!(fields.name, fields.name.trim());
            assert!(!fields.scopes.is_empty());
            assert!(fields.scopes.iter().all(|s| scopes.contains(s)));
            assert!(fields.expires_at.is_none_or(|t| t > NOW));
            assert!(fields.allowed_origins.len() <= MAX_LIST_ENTRIES);
            assert!(fields
                .allowed_origins
                .iter()
                .all(|o| *o == o.to_ascii_lowercase()));
            assert!(fields.allowed_ips.len() <= MAX_LIST_ENTRIES);
            assert_ne!(fields.rate_limit_per_hour, Some(0));
        }
        Err(e) => refused_clearly(&e),
    }
    if let Err(e) = update_key(data, &scopes, NOW) {
        refused_clearly(&e);
    }
});
