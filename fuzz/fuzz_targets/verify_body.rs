//! The verify body (a backend asking about its caller's key) on arbitrary bytes: no panic; an
//! IP that passes is an address, and a refusal never repeats the key it may have held.
#![no_main]

use keyhaven_api::body::verify;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match verify(data) {
        Ok((request, ip)) => assert_eq!(request.ip.is_some(), ip.is_some()),
        Err(e) => {
            let message = e.to_string();
            assert!(!message.is_empty());
            if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
                if let Some(key) = value.get("key").and_then(|k| k.as_str()) {
                    if key.len() >= 8 {
                        assert!(!message.contains(key));
                    }
                }
            }
        }
    }
});
