//! The service URL rule (SECURITY 18): TLS for every service, plain `http://` only on loopback,
//! unless the person overrides it for one account.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::Url;

use crate::error::{Error, Result};

/// Parses and checks a key service's base URL: `https://` anywhere, `http://` only for
/// `localhost`, `127.0.0.0/8` and `::1`. The result ends in `/` so that API paths join onto it.
pub fn check_service_url(raw: &str) -> Result<Url> {
    check_service_url_with(raw, HttpPolicy::LoopbackOnly)
}

/// Where plain `http://` is allowed for one account's service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpPolicy {
    /// Only for this computer (the rule).
    #[default]
    LoopbackOnly,
    /// On any host: the person chose this for the account, knowing that passwords, session
    /// tokens and new secrets then cross the network unencrypted.
    AllowedByUser,
}

impl HttpPolicy {
    pub fn from_override(allow_http: bool) -> HttpPolicy {
        if allow_http {
            HttpPolicy::AllowedByUser
        } else {
            HttpPolicy::LoopbackOnly
        }
    }
}

/// [`check_service_url`] under `policy`. Other schemes than `http` and `https` are refused either
/// way.
pub fn check_service_url_with(raw: &str, policy: HttpPolicy) -> Result<Url> {
    let mut url = check_url(raw, policy, "service URL")?;
    if url.query().is_some() {
        return Err(Error::validation(
            "service URL",
            "must not have a query (?…) or fragment (#…)",
        ));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// A URL called as it is (a generic key's check URL): the same rule as a service's URL, but its
/// path is kept and it may have a query.
pub fn check_endpoint_url(raw: &str, policy: HttpPolicy) -> Result<Url> {
    check_url(raw, policy, "check URL")
}

fn check_url(raw: &str, policy: HttpPolicy, field: &str) -> Result<Url> {
    let trimmed = raw.trim();
    let url = Url::parse(trimmed)
        .map_err(|e| Error::validation(field, format!("'{trimmed}' is not a URL ({e})")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::validation(
            field,
            "must not contain a user name or password; sign in with the email and password fields",
        ));
    }
    if url.fragment().is_some() {
        return Err(Error::validation(
            field,
            "must not have a query (?…) or fragment (#…)",
        ));
    }
    let shown = url.as_str().to_string();
    match url.scheme() {
        "https" => {
            if url.host().is_none() {
                return Err(Error::validation(field, "has no host"));
            }
        }
        "http" => {
            if url.host().is_none() {
                return Err(Error::validation(field, "has no host"));
            }
            if !is_loopback(&url) && policy == HttpPolicy::LoopbackOnly {
                return Err(Error::InsecureUrl {
                    url: shown,
                    reason: "plain http:// is only allowed for this computer (localhost, 127.0.0.1, ::1); use https:// for any other host, or allow unencrypted http:// for this account".to_string(),
                });
            }
        }
        other => {
            return Err(Error::InsecureUrl {
                url: shown,
                reason: format!("the scheme '{other}' is not supported; use https://"),
            })
        }
    }
    Ok(url)
}

/// Whether the URL's host is this computer.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => {
            let d = domain.trim_end_matches('.');
            d.eq_ignore_ascii_case("localhost")
        }
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => {
            ip == Ipv6Addr::LOCALHOST
                || ip
                    .to_ipv4_mapped()
                    .is_some_and(|v4: Ipv4Addr| v4.is_loopback())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_accepted_anywhere() {
        let url = check_service_url("https://keys.example.com").expect("https");
        assert_eq!(url.as_str(), "https://keys.example.com/");
        let url = check_service_url(" https://example.com/keyhaven ").expect("with path");
        assert_eq!(
            url.join("v1/keys").expect("join").as_str(),
            "https://example.com/keyhaven/v1/keys"
        );
    }

    #[test]
    fn http_only_on_loopback() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://localhost:3000/",
            "http://LOCALHOST",
            "http://[::1]:9000",
        ] {
            assert!(check_service_url(ok).is_ok(), "{ok}");
        }
        for insecure in [
            "http://example.com",
            "http://10.0.0.1",
            "http://192.168.1.10:8080",
            "http://[::2]",
            "http://localhost.example.com",
            "http://128.0.0.1",
            "http://0.0.0.0",
            "ftp://127.0.0.1",
            "ws://localhost",
        ] {
            let err = check_service_url(insecure).expect_err(insecure);
            assert!(
                matches!(err, Error::InsecureUrl { .. }),
                "{insecure}: {err:?}"
            );
            assert!(err.to_string().contains("https://"), "{err}");
        }
    }

    #[test]
    fn the_override_allows_http_on_any_host_and_nothing_else() {
        for ok in [
            "http://example.com",
            "http://10.0.0.1:8080/keys",
            "http://127.0.0.1",
        ] {
            let url = check_service_url_with(ok, HttpPolicy::AllowedByUser).expect(ok);
            assert_eq!(url.scheme(), "http");
            assert!(url.path().ends_with('/'));
        }
        for refused in [
            "ftp://example.com",
            "ws://example.com",
            "file:///etc/passwd",
        ] {
            let err =
                check_service_url_with(refused, HttpPolicy::AllowedByUser).expect_err(refused);
            assert!(
                matches!(err, Error::InsecureUrl { .. } | Error::Validation { .. }),
                "{refused}: {err:?}"
            );
        }
        assert!(matches!(
            check_service_url_with("https://user:pw@example.com", HttpPolicy::AllowedByUser),
            Err(Error::Validation { .. })
        ));
        assert_eq!(HttpPolicy::from_override(false), HttpPolicy::LoopbackOnly);
    }

    #[test]
    fn malformed_urls_are_validation_errors() {
        for bad in [
            "",
            "keys.example.com",
            "https://user:pw@example.com",
            "https://example.com/?a=1",
        ] {
            let err = check_service_url(bad).expect_err(bad);
            assert!(matches!(err, Error::Validation { .. }), "{bad}: {err:?}");
        }
    }
}
