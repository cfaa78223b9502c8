//! The sign-in body on arbitrary bytes: parsed as the service parses it, without a panic, and a
//! refusal never repeats the password it may have held.
#![no_main]

use keyhaven_api::body::{login, BodyError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = login(data) {
        let message = e.to_string();
        assert!(!message.is_empty());
        if let BodyError::Field(field) = &e {
            assert!(!field.field.is_empty());
        }
        // A password, if the body held one as text, is never part of the message.
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
            if let Some(password) = value.get("password").and_then(|p| p.as_str()) {
                if password.len() >= 8 {
                    assert!(!message.contains(password));
                }
            }
        }
    }
});
