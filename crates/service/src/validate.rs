//! Checks of what callers send when they create a key. Each failure names its field and
//! never repeats the value sent.

use std::net::{IpAddr, Ipv6Addr};

use chrono::{DateTime, Utc};
use keyhaven_api::MAX_NAME_CHARS;

use crate::error::ServiceError;

/// Most entries accepted in `allowed_origins` or `allowed_ips`.
pub const MAX_LIST_ENTRIES: usize = 20;

pub fn name(name: &str) -> Result<String, ServiceError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ServiceError::validation("name", "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ServiceError::validation(
            "name",
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ServiceError::validation(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

pub fn scopes(scopes: &[String], offered: &[String]) -> Result<Vec<String>, ServiceError> {
    let offer = || offered.join(", ");
    if scopes.is_empty() {
        return Err(ServiceError::validation(
            "scopes",
            format!("must name at least one of {}", offer()),
        ));
    }
    for (i, scope) in scopes.iter().enumerate() {
        if !offered.contains(scope) {
            return Err(ServiceError::validation(
                format!("scopes[{i}]"),
                format!("must be one of {}", offer()),
            ));
        }
        if scopes[..i].contains(scope) {
            return Err(ServiceError::validation(
                format!("scopes[{i}]"),
                "is listed twice",
            ));
        }
    }
    Ok(scopes.to_vec())
}

pub fn expires_at(at: Option<DateTime<Utc>>, now: i64) -> Result<Option<i64>, ServiceError> {
    match at.map(|t| t.timestamp()) {
        Some(t) if t <= now => Err(ServiceError::validation(
            "expires_at",
            "must be in the future",
        )),
        other => Ok(other),
    }
}

pub fn rate_limit(limit: Option<u32>) -> Result<Option<u32>, ServiceError> {
    match limit {
        Some(0) => Err(ServiceError::validation(
            "rate_limit_per_hour",
            "must be at least 1",
        )),
        other => Ok(other),
    }
}

/// Origins as `scheme://host[:port]`, lower-cased.
pub fn origins(list: Option<&[String]>) -> Result<Vec<String>, ServiceError> {
    let problem = "must be an origin like https://app.example.com:8443";
    checked_list("allowed_origins", list, problem, |s| {
        let s = s.to_ascii_lowercase();
        valid_origin(&s).then_some(s)
    })
}

/// TokenKit's legacy `domain` (a bare host name) as an origin, `https://` + the host, added to
/// `origins`: the list with it, and the note the answer carries. The host is checked as an
/// origin's host is; a scheme, path or port in it is refused, naming the field.
pub fn with_domain(
    mut origins: Vec<String>,
    domain: Option<&str>,
) -> Result<(Vec<String>, Option<String>), ServiceError> {
    let Some(domain) = domain else {
        return Ok((origins, None));
    };
    let host = domain.trim().to_ascii_lowercase();
    let origin = format!("https://{host}");
    if host.is_empty() || host.contains([':', '/', '@', '?', '#']) || !valid_origin(&origin) {
        return Err(ServiceError::validation(
            "domain",
            "must be a host name like example.io (it is taken as the origin https://example.io)",
        ));
    }
    if !origins.contains(&origin) {
        if origins.len() >= MAX_LIST_ENTRIES {
            return Err(ServiceError::validation(
                "domain",
                format!("would make allowed_origins longer than {MAX_LIST_ENTRIES} entries"),
            ));
        }
        origins.push(origin.clone());
    }
    let note =
        format!("The legacy field domain (\"{host}\") was taken as the allowed origin {origin}.");
    Ok((origins, Some(note)))
}

/// IP addresses or CIDR blocks.
pub fn ips(list: Option<&[String]>) -> Result<Vec<String>, ServiceError> {
    let problem = "must be an IP address or a CIDR block like 10.0.0.0/8";
    checked_list("allowed_ips", list, problem, |s| {
        valid_ip_or_cidr(s).then(|| s.to_owned())
    })
}

/// Applies `check` to each entry (which returns the entry as stored), refusing too many
/// entries, bad ones and repeats.
fn checked_list(
    field: &str,
    list: Option<&[String]>,
    problem: &str,
    check: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, ServiceError> {
    let list = list.unwrap_or_default();
    if list.len() > MAX_LIST_ENTRIES {
        return Err(ServiceError::validation(
            field,
            format!("must have at most {MAX_LIST_ENTRIES} entries"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        match check(entry) {
            Some(v) if !out.contains(&v) => out.push(v),
            Some(_) => {
                return Err(ServiceError::validation(
                    format!("{field}[{i}]"),
                    "is listed twice",
                ))
            }
            None => return Err(ServiceError::validation(format!("{field}[{i}]"), problem)),
        }
    }
    Ok(out)
}

fn valid_origin(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    if !matches!(scheme, "http" | "https") {
        return false;
    }
    let (host_ok, port) = if let Some(v6) = rest.strip_prefix('[') {
        match v6.split_once(']') {
            Some((addr, after)) => (
                addr.parse::<Ipv6Addr>().is_ok(),
                if after.is_empty() {
                    Some(None)
                } else {
                    after.strip_prefix(':').map(Some)
                },
            ),
            None => (false, None),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) => (valid_host(host), Some(Some(port))),
            None => (valid_host(rest), Some(None)),
        }
    };
    let port_ok = match port {
        Some(None) => true,
        Some(Some(p)) => {
            p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n > 0)
        }
        None => false,
    };
    host_ok && port_ok
}

fn valid_host(host: &str) -> bool {
    (1..=253).contains(&host.len())
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

fn valid_ip_or_cidr(s: &str) -> bool {
    match s.split_once('/') {
        None => s.parse::<IpAddr>().is_ok(),
        Some((addr, bits)) => {
            let bits = match bits.parse::<u8>() {
                Ok(b) if bits.bytes().all(|c| c.is_ascii_digit()) => b,
                _ => return false,
            };
            match addr.parse::<IpAddr>() {
                Ok(IpAddr::V4(_)) => bits <= 32,
                Ok(IpAddr::V6(_)) => bits <= 128,
                Err(_) => false,
            }
        }
    }
}

/// Whether `ip` is one of the addresses or inside one of the CIDR blocks of `list` (entries
/// as [`ips`] stores them). IPv4-mapped IPv6 addresses count as their IPv4 address.
pub fn ip_in(list: &[String], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    list.iter().any(|entry| {
        let (addr, bits) = match entry.split_once('/') {
            Some((a, b)) => (a, b.parse::<u32>().ok()),
            None => (entry.as_str(), None),
        };
        let Ok(net) = addr.parse::<IpAddr>() else {
            return false;
        };
        match (net.to_canonical(), ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_match(
                u128::from(u32::from(n)),
                u128::from(u32::from(a)),
                bits.unwrap_or(32),
                32,
            ),
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                prefix_match(u128::from(n), u128::from(a), bits.unwrap_or(128), 128)
            }
            _ => false,
        }
    })
}

fn prefix_match(net: u128, addr: u128, bits: u32, width: u32) -> bool {
    if bits > width {
        return false;
    }
    let shift = width - bits;
    if shift >= 128 {
        return true;
    }
    (net >> shift) == (addr >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn field_of(e: ServiceError) -> String {
        match e {
            ServiceError::Validation { field, .. } => field,
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn origins_are_scheme_host_and_port() {
        let good = list(&[
            "https://app.example.com",
            "HTTP://localhost:3000",
            "http://[::1]:8080",
        ]);
        assert_eq!(
            origins(Some(&good)).expect("valid"),
            [
                "https://app.example.com",
                "http://localhost:3000",
                "http://[::1]:8080"
            ]
        );
        for bad in [
            "app.example.com",
            "ftp://x.com",
            "https://x.com/",
            "https://x.com/path",
            "https://",
            "https://x.com:0",
            "https://x.com:99999",
            "https://x.com:+80",
            "https://-x.com",
            "https://x..com",
            "https://[::1",
            "https://user@x.com",
        ] {
            let e = origins(Some(&list(&["https://ok.com", bad]))).expect_err(bad);
            assert_eq!(field_of(e), "allowed_origins[1]", "{bad}");
        }
        let e = origins(Some(&list(&["https://a.com", "https://A.com"]))).expect_err("dup");
        assert_eq!(field_of(e), "allowed_origins[1]");
    }

    #[test]
    fn ips_are_addresses_or_cidr_blocks() {
        let good = list(&[
            "10.0.0.1",
            "10.0.0.0/8",
            "::1",
            "2001:db8::/32",
            "0.0.0.0/0",
        ]);
        assert_eq!(ips(Some(&good)).expect("valid").len(), 5);
        for bad in [
            "10.0.0",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "host",
            " 10.0.0.1",
        ] {
            assert_eq!(
                field_of(ips(Some(&list(&[bad]))).expect_err(bad)),
                "allowed_ips[0]"
            );
        }
        let many = vec!["10.0.0.1".to_owned(); MAX_LIST_ENTRIES + 1];
        assert_eq!(
            field_of(ips(Some(&many)).expect_err("too many")),
            "allowed_ips"
        );
    }

    #[test]
    fn ips_match_addresses_and_blocks() {
        let allowed = list(&["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]);
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert!(ip_in(&allowed, ip("10.1.2.3")));
        assert!(ip_in(&allowed, ip("192.0.2.7")));
        assert!(ip_in(&allowed, ip("::ffff:10.9.9.9")), "v4-mapped");
        assert!(ip_in(&allowed, ip("2001:db8:1::5")));
        assert!(!ip_in(&allowed, ip("192.0.2.8")));
        assert!(!ip_in(&allowed, ip("11.0.0.1")));
        assert!(!ip_in(&allowed, ip("2001:db9::1")));
        assert!(ip_in(&list(&["0.0.0.0/0"]), ip("203.0.113.9")));
        assert!(!ip_in(&[], ip("127.0.0.1")));
    }

    #[test]
    fn names_scopes_limits_and_expiry() {
        assert_eq!(name("  ci deploy ").expect("ok"), "ci deploy");
        assert_eq!(field_of(name(" ").expect_err("empty")), "name");
        assert!(name(&"x".repeat(MAX_NAME_CHARS)).is_ok());
        assert_eq!(
            field_of(name(&"é".repeat(MAX_NAME_CHARS + 1)).expect_err("long")),
            "name"
        );
        assert_eq!(field_of(name("a\nb").expect_err("control")), "name");

        let offered = list(&["read", "write", "search"]);
        assert_eq!(scopes(&list(&["read"]), &offered).expect("ok"), ["read"]);
        assert_eq!(
            field_of(scopes(&[], &offered).expect_err("empty")),
            "scopes"
        );
        assert_eq!(
            field_of(scopes(&list(&["read", "admin"]), &offered).expect_err("x")),
            "scopes[1]"
        );
        assert_eq!(
            field_of(scopes(&list(&["read", "read"]), &offered).expect_err("x")),
            "scopes[1]"
        );

        assert_eq!(
            field_of(rate_limit(Some(0)).expect_err("zero")),
            "rate_limit_per_hour"
        );
        assert_eq!(rate_limit(Some(1)).expect("ok"), Some(1));

        let now = 1_700_000_000;
        let past = DateTime::from_timestamp(now - 1, 0);
        assert_eq!(
            field_of(expires_at(past, now).expect_err("past")),
            "expires_at"
        );
        let future = DateTime::from_timestamp(now + 60, 0);
        assert_eq!(expires_at(future, now).expect("ok"), Some(now + 60));
    }
}
