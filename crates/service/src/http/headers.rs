//! What requests present and answers carry in headers: the key or session a request presents,
//! and the `X-RateLimit-*` headers of a window.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;

use crate::domain::auth::Credentials;
use crate::domain::limits::RateWindow;

/// Headers a key may arrive in, besides `Authorization: Bearer` (as names, not text: a lookup by
/// text parses the name first, on every call).
static KEY_HEADERS: [HeaderName; 2] = [
    HeaderName::from_static("x-api-key"),
    HeaderName::from_static("api-key"),
];

/// The value of a `Bearer` authorization, scheme matched without regard to case.
pub fn bearer_value(authorization: &str) -> Option<&str> {
    let (scheme, value) = authorization.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| value.trim())
}

/// The key a request presents: `X-API-Key`, then `api-key`, then `Authorization: Bearer`.
/// A header that is not readable text counts as presenting an invalid key.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    KEY_HEADERS
        .iter()
        .find_map(|name| headers.get(name))
        .map(|v| v.to_str().map(str::trim).unwrap_or(""))
        .or_else(|| {
            let auth = headers.get(header::AUTHORIZATION)?;
            Some(auth.to_str().ok().and_then(bearer_value).unwrap_or(""))
        })
}

/// What a management call presents: its bearer value (empty when `Authorization` holds none
/// readable) and whether it presents an API key.
pub fn credentials(headers: &HeaderMap) -> Credentials<'_> {
    Credentials {
        bearer: headers
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().ok().and_then(bearer_value).unwrap_or("")),
        api_key: presented_key(headers).is_some(),
    }
}

static LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
static REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
static RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// The three numbers of a window's headers, written side by side in one buffer: the header
/// values are slices of it, so that the hot path allocates once for them, not three times.
struct Numbers {
    text: [u8; 3 * 20],
    len: usize,
}

impl Numbers {
    /// The buffer, and where each number ends in it.
    fn of(numbers: [i64; 3]) -> (Self, [usize; 3]) {
        let mut this = Numbers {
            text: [0; 3 * 20],
            len: 0,
        };
        let mut ends = [0; 3];
        for (end, n) in ends.iter_mut().zip(numbers) {
            let mut digits = itoa::Buffer::new();
            let digits = digits.format(n).as_bytes();
            this.text[this.len..this.len + digits.len()].copy_from_slice(digits);
            this.len += digits.len();
            *end = this.len;
        }
        (this, ends)
    }
}

impl AsRef<[u8]> for Numbers {
    fn as_ref(&self) -> &[u8] {
        &self.text[..self.len]
    }
}

/// Sets the `X-RateLimit-*` headers of `window` (on every answer to a call with a key: the hot
/// path).
pub fn set_rate_headers(window: &RateWindow, headers: &mut HeaderMap) {
    let (numbers, ends) = Numbers::of([
        i64::from(window.limit),
        i64::from(window.remaining),
        window.reset,
    ]);
    let text = Bytes::from_owner(numbers);
    let mut start = 0;
    for (name, end) in [&LIMIT, &REMAINING, &RESET].into_iter().zip(ends) {
        // Digits (and a minus sign) are always a valid header value.
        let value = HeaderValue::from_maybe_shared(text.slice(start..end))
            .unwrap_or(HeaderValue::from_static("0"));
        headers.insert(name.clone(), value);
        start = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_header(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).expect("header value"));
        h
    }

    #[test]
    fn keys_are_found_in_the_accepted_headers() {
        assert_eq!(presented_key(&with_header("x-api-key", " k1 ")), Some("k1"));
        assert_eq!(presented_key(&with_header("api-key", "k2")), Some("k2"));
        assert_eq!(
            presented_key(&with_header("authorization", "Bearer k3")),
            Some("k3")
        );
        assert_eq!(
            presented_key(&with_header("authorization", "bearer k4")),
            Some("k4")
        );
        assert_eq!(
            presented_key(&with_header("authorization", "Basic k5")),
            Some("")
        );
        assert_eq!(presented_key(&HeaderMap::new()), None);
        let mut both = with_header("x-api-key", "first");
        both.insert("api-key", HeaderValue::from_static("second"));
        assert_eq!(presented_key(&both), Some("first"));
    }

    #[test]
    fn the_headers_carry_each_number_of_the_window_whole() {
        for (limit, remaining, reset) in [
            (100_000_000, 99_999_999, 86_400),
            (3, 0, 0),
            (u32::MAX, u32::MAX, -1),
        ] {
            let mut headers = HeaderMap::new();
            let window = RateWindow {
                limit,
                remaining,
                reset,
            };
            set_rate_headers(&window, &mut headers);
            assert_eq!(headers.len(), 3);
            assert_eq!(headers["x-ratelimit-limit"], limit.to_string().as_str());
            assert_eq!(
                headers["x-ratelimit-remaining"],
                remaining.to_string().as_str()
            );
            assert_eq!(headers["x-ratelimit-reset"], reset.to_string().as_str());
        }
    }
}
