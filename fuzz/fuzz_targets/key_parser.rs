//! The offline key check and the display prefix on arbitrary bytes: no panic, and a key that
//! passes has the shape the format promises.
#![no_main]

use keyhaven_api::keyfmt::{check, display_prefix, valid_prefix, CHECKSUM_CHARS, RANDOM_CHARS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let shown = display_prefix(&text);
    assert!(text.starts_with(shown));
    if let Ok(prefix) = check(&text) {
        assert!(valid_prefix(prefix));
        assert_eq!(text.len(), prefix.len() + RANDOM_CHARS + CHECKSUM_CHARS);
        assert!(text[prefix.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric()));
    }
});
