//! Property tests of the key format (SECURITY.md #1, #20): every generated key passes the
//! offline check; every one-character change, truncation or extension of it is refused; the
//! display prefix never panics, whatever the text.

use keyhaven_api::keyfmt::{check, display_prefix, generate, DISPLAY_PREFIX_CHARS};
use proptest::prelude::*;

/// Valid key prefixes: 3 to 16 characters of `[a-z0-9_]`, ending in `_`.
fn prefix() -> impl Strategy<Value = String> {
    "[a-z0-9_]{2,15}".prop_map(|s| format!("{s}_"))
}

/// Any character: ASCII (most typos) or not.
fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => proptest::char::range(' ', '~'),
        1 => any::<char>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_keys_pass(prefix in prefix()) {
        let key = generate(&prefix);
        prop_assert_eq!(check(&key), Ok(prefix.as_str()));
        prop_assert!(display_prefix(&key).chars().count() == DISPLAY_PREFIX_CHARS);
    }

    #[test]
    fn any_one_character_change_is_refused(prefix in prefix(), at in any::<prop::sample::Index>(), c in any_char()) {
        let key = generate(&prefix);
        let mut chars: Vec<char> = key.chars().collect();
        let i = at.index(chars.len());
        prop_assume!(chars[i] != c);
        chars[i] = c;
        let changed: String = chars.into_iter().collect();
        prop_assert!(check(&changed).is_err(), "a change at {} passed", i);
    }

    #[test]
    fn any_truncation_is_refused(prefix in prefix(), keep in any::<prop::sample::Index>(), from_start in any::<bool>()) {
        let key = generate(&prefix);
        let n = keep.index(key.len()); // 0 ..= len - 1 characters kept
        let cut = if from_start { &key[key.len() - n..] } else { &key[..n] };
        prop_assert!(check(cut).is_err(), "{} of {} characters passed", n, key.len());
    }

    #[test]
    fn any_extension_is_refused(prefix in prefix(), extra in proptest::collection::vec(any_char(), 1..8), at_start in any::<bool>()) {
        let key = generate(&prefix);
        let extra: String = extra.into_iter().collect();
        let longer = if at_start { format!("{extra}{key}") } else { format!("{key}{extra}") };
        prop_assert!(check(&longer).is_err());
    }

    #[test]
    fn display_prefix_never_panics(text in any::<String>()) {
        let shown = display_prefix(&text);
        prop_assert!(text.starts_with(shown));
        prop_assert_eq!(shown.chars().count(), text.chars().count().min(DISPLAY_PREFIX_CHARS));
        let _ = check(&text);
    }
}
