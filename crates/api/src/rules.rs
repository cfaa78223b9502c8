//! The rules for a key's fields, written once: the service enforces them, the core checks them
//! before a request leaves the machine, and the fuzz targets run them. The UI keeps a copy of its
//! own for feedback as the person types, and holds it to the same table of cases
//! (`crates/api/tests/field_rules.json`), which a Rust test holds these rules to as well.
//!
//! Each failure names its field (with the entry's index in a list) and a problem, and never
//! repeats the value it was given.

use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use ipnet::IpNet;

use crate::MAX_NAME_CHARS;

/// Most entries accepted in `allowed_origins` or `allowed_ips`.
pub const MAX_LIST_ENTRIES: usize = 20;
/// Longest scope name.
pub const MAX_SCOPE_CHARS: usize = 32;

/// A field that breaks its rule: which (`allowed_ips[2]`), and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub field: String,
    pub problem: String,
}

impl RuleError {
    fn new(field: impl Into<String>, problem: impl Into<String>) -> RuleError {
        RuleError {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` {}", self.field, self.problem)
    }
}

impl std::error::Error for RuleError {}

/// Characters a name may not hold although they print nothing, or reorder what follows: they
/// make two names look alike, or one look like another (bidirectional overrides and isolates,
/// and zero-width characters).
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' // zero-width space, joiners, direction marks
            | '\u{202A}'..='\u{202E}' // bidirectional embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // bidirectional isolates
            | '\u{061C}' // Arabic letter mark
            | '\u{FEFF}' // zero-width no-break space
    )
}

/// A key's name, trimmed: 1 to 100 characters, none of them a control, bidirectional or
/// zero-width character.
pub fn name(name: &str) -> Result<String, RuleError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(RuleError::new("name", "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(RuleError::new(
            "name",
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(RuleError::new(
            "name",
            "must not contain control characters",
        ));
    }
    if name.chars().any(invisible) {
        return Err(RuleError::new(
            "name",
            "must not contain invisible characters (bidirectional or zero-width)",
        ));
    }
    Ok(name.to_owned())
}

/// A create request's fields as kept: each checked and normalised (the name trimmed, origins
/// lower-cased, TokenKit's `domain` taken as an origin), and the note that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFields {
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<i64>,
    pub allowed_origins: Vec<String>,
    pub allowed_ips: Vec<String>,
    pub rate_limit_per_hour: Option<u32>,
    pub note: Option<String>,
}

/// The fields of `POST /v1/keys`, by the rules, in the order the service checks them.
pub fn new_key(
    req: &crate::CreateKeyRequest,
    offered_scopes: &[String],
    now: i64,
) -> Result<KeyFields, RuleError> {
    let name = name(&req.name)?;
    let scopes = scopes(&req.scopes, offered_scopes)?;
    let expires_at = expires_at(req.expires_at, now)?;
    let (allowed_origins, note) = with_domain(
        origins(req.allowed_origins.as_deref())?,
        req.domain.as_deref(),
    )?;
    Ok(KeyFields {
        name,
        scopes,
        expires_at,
        allowed_origins,
        allowed_ips: ips(req.allowed_ips.as_deref())?,
        rate_limit_per_hour: rate_limit(req.rate_limit_per_hour)?,
        note,
    })
}

/// The changes of `PATCH /v1/keys/{id}` as kept: `None` leaves a field as it is; `domain` adds
/// its origin to the origins sent, or to `current_origins` when none are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyChanges {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub expires_at: Option<Option<i64>>,
    pub allowed_origins: Option<Vec<String>>,
    pub allowed_ips: Option<Vec<String>>,
    pub rate_limit_per_hour: Option<Option<u32>>,
    pub note: Option<String>,
}

/// The changes of `PATCH /v1/keys/{id}`, by the rules, in the order the service checks them.
pub fn key_changes(
    req: &crate::UpdateKeyRequest,
    offered_scopes: &[String],
    current_origins: &[String],
    now: i64,
) -> Result<KeyChanges, RuleError> {
    let name = req.name.as_deref().map(name).transpose()?;
    let scopes = req
        .scopes
        .as_deref()
        .map(|s| scopes(s, offered_scopes))
        .transpose()?;
    let expires_at = req.expires_at.map(|at| expires_at(at, now)).transpose()?;
    let sent_origins = req
        .allowed_origins
        .as_deref()
        .map(|list| origins(Some(list)))
        .transpose()?;
    let (allowed_origins, note) = match (sent_origins, req.domain.as_deref()) {
        (sent, None) => (sent, None),
        (sent, domain) => {
            let base = sent.unwrap_or_else(|| current_origins.to_vec());
            let (with, note) = with_domain(base, domain)?;
            (Some(with), note)
        }
    };
    Ok(KeyChanges {
        name,
        scopes,
        expires_at,
        allowed_origins,
        allowed_ips: req
            .allowed_ips
            .as_deref()
            .map(|list| ips(Some(list)))
            .transpose()?,
        rate_limit_per_hour: req.rate_limit_per_hour.map(rate_limit).transpose()?,
        note,
    })
}

/// Whether `s` can name a scope: 1 to 32 characters of `[a-z0-9_:.-]`.
pub fn valid_scope_name(s: &str) -> bool {
    (1..=MAX_SCOPE_CHARS).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_:.-".contains(&b))
}

/// Scope names as such: at least one, each a scope name, none twice. (What the client can check
/// without knowing which scopes the service offers.)
pub fn scope_names(scopes: &[String]) -> Result<(), RuleError> {
    if scopes.is_empty() {
        return Err(RuleError::new("scopes", "must name at least one scope"));
    }
    for (i, scope) in scopes.iter().enumerate() {
        if !valid_scope_name(scope) {
            return Err(RuleError::new(
                format!("scopes[{i}]"),
                format!(
                    "is not a scope name (1 to {MAX_SCOPE_CHARS} of a-z, 0-9, '_', ':', '.', '-')"
                ),
            ));
        }
        if scopes[..i].contains(scope) {
            return Err(RuleError::new(format!("scopes[{i}]"), "is listed twice"));
        }
    }
    Ok(())
}

/// Scopes from those `offered`: at least one, none twice.
pub fn scopes(scopes: &[String], offered: &[String]) -> Result<Vec<String>, RuleError> {
    let offer = || offered.join(", ");
    if scopes.is_empty() {
        return Err(RuleError::new(
            "scopes",
            format!("must name at least one of {}", offer()),
        ));
    }
    for (i, scope) in scopes.iter().enumerate() {
        if !offered.contains(scope) {
            return Err(RuleError::new(
                format!("scopes[{i}]"),
                format!("must be one of {}", offer()),
            ));
        }
        if scopes[..i].contains(scope) {
            return Err(RuleError::new(format!("scopes[{i}]"), "is listed twice"));
        }
    }
    Ok(scopes.to_vec())
}

/// An expiry, in the future of `now` (seconds since the epoch).
pub fn expires_at(at: Option<DateTime<Utc>>, now: i64) -> Result<Option<i64>, RuleError> {
    match at.map(|t| t.timestamp()) {
        Some(t) if t <= now => Err(RuleError::new("expires_at", "must be in the future")),
        other => Ok(other),
    }
}

/// An hourly limit: none, or at least 1.
pub fn rate_limit(limit: Option<u32>) -> Result<Option<u32>, RuleError> {
    match limit {
        Some(0) => Err(RuleError::new("rate_limit_per_hour", "must be at least 1")),
        other => Ok(other),
    }
}

/// Longest grace period a roll may give the old key: 30 days.
pub const MAX_GRACE_SECONDS: u64 = 30 * 24 * 60 * 60;

/// A roll's grace period: 0 (revoked at once) to 30 days.
pub fn grace_seconds(seconds: u64) -> Result<u64, RuleError> {
    if seconds > MAX_GRACE_SECONDS {
        return Err(RuleError::new(
            "grace_seconds",
            format!("must be at most {MAX_GRACE_SECONDS} (30 days)"),
        ));
    }
    Ok(seconds)
}

/// The IP address a backend names for its caller.
pub fn ip_address(text: &str) -> Result<IpAddr, RuleError> {
    text.trim()
        .parse::<IpAddr>()
        .map_err(|_| RuleError::new("ip", "must be an IP address"))
}

/// One origin, `scheme://host[:port]` with the scheme `http` or `https`, lower-cased; `None` if
/// it is not one.
pub fn origin(entry: &str) -> Option<String> {
    let s = entry.to_ascii_lowercase();
    valid_origin(&s).then_some(s)
}

/// Origins as `scheme://host[:port]`, lower-cased.
pub fn origins(list: Option<&[String]>) -> Result<Vec<String>, RuleError> {
    let problem = "must be an origin like https://app.example.com:8443";
    checked_list("allowed_origins", list, problem, origin)
}

/// TokenKit's legacy `domain` (a bare host name) as an origin, `https://` + the host, added to
/// `origins`: the list with it, and the note the answer carries. The host is checked as an
/// origin's host is; a scheme, path or port in it is refused, naming the field.
pub fn with_domain(
    mut origins: Vec<String>,
    domain: Option<&str>,
) -> Result<(Vec<String>, Option<String>), RuleError> {
    let Some(domain) = domain else {
        return Ok((origins, None));
    };
    let host = domain.trim().to_ascii_lowercase();
    let origin = format!("https://{host}");
    if host.is_empty() || host.contains([':', '/', '@', '?', '#']) || !valid_origin(&origin) {
        return Err(RuleError::new(
            "domain",
            "must be a host name like example.io (it is taken as the origin https://example.io)",
        ));
    }
    if !origins.contains(&origin) {
        if origins.len() >= MAX_LIST_ENTRIES {
            return Err(RuleError::new(
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

/// One allowed-IP entry: an IP address, or a CIDR block like `10.0.0.0/8`.
pub fn ip_or_cidr(entry: &str) -> Option<String> {
    let ok = match entry.split_once('/') {
        None => entry.parse::<IpAddr>().is_ok(),
        // ipnet reads the block; the prefix length must be plain digits (no sign, no spaces).
        Some((_, bits)) => {
            !bits.is_empty()
                && bits.len() <= 3
                && bits.bytes().all(|b| b.is_ascii_digit())
                && entry.parse::<IpNet>().is_ok()
        }
    };
    ok.then(|| entry.to_owned())
}

/// IP addresses or CIDR blocks.
pub fn ips(list: Option<&[String]>) -> Result<Vec<String>, RuleError> {
    let problem = "must be an IP address or a CIDR block like 10.0.0.0/8";
    checked_list("allowed_ips", list, problem, ip_or_cidr)
}

/// Whether `ip` is one of the addresses or inside one of the CIDR blocks of `list` (entries as
/// [`ips`] keeps them). IPv4-mapped IPv6 addresses count as their IPv4 address.
pub fn ip_in(list: &[String], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    list.iter().any(|entry| match entry.parse::<IpNet>() {
        Ok(net) => net.contains(&ip),
        Err(_) => entry
            .parse::<IpAddr>()
            .is_ok_and(|one| one.to_canonical() == ip),
    })
}

/// Applies `check` to each entry (which returns the entry as kept), refusing too many entries,
/// bad ones and repeats.
fn checked_list(
    field: &str,
    list: Option<&[String]>,
    problem: &str,
    check: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, RuleError> {
    let list = list.unwrap_or_default();
    if list.len() > MAX_LIST_ENTRIES {
        return Err(RuleError::new(
            field,
            format!("must have at most {MAX_LIST_ENTRIES} entries"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        match check(entry) {
            Some(v) if !out.contains(&v) => out.push(v),
            Some(_) => return Err(RuleError::new(format!("{field}[{i}]"), "is listed twice")),
            None => return Err(RuleError::new(format!("{field}[{i}]"), problem)),
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
                addr.parse::<std::net::Ipv6Addr>().is_ok(),
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
            !p.is_empty()
                && p.len() <= 5
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok_and(|n| n > 0)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_in_its_block_and_a_mapped_one_counts_as_ipv4() {
        let list = vec![
            "10.0.0.0/8".to_owned(),
            "192.0.2.7".to_owned(),
            "2001:db8::/32".to_owned(),
        ];
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert!(ip_in(&list, ip("10.200.3.4")));
        assert!(ip_in(&list, ip("192.0.2.7")));
        assert!(!ip_in(&list, ip("192.0.2.8")));
        assert!(ip_in(&list, ip("2001:db8:ffff::1")));
        assert!(ip_in(&list, ip("::ffff:10.1.1.1")));
        assert!(!ip_in(&list, ip("11.0.0.1")));
        assert!(!ip_in(&[], ip("10.0.0.1")));
    }
}
