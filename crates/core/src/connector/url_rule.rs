//! The service URL rule (SECURITY 18): TLS for every service, plain `http://` only on loopback.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::Url;

use crate::error::{Error, Result};

/// Parses and checks a key service's base URL: `https://` anywhere, `http://` only for
/// `localhost`, `127.0.0.0/8` and `::1`. The result ends in `/` so that API paths join onto it.
pub fn check_service_url(raw: &str) -> Result<Url> {
    let trimmed = raw.trim();
    let mut url = Url::parse(trimmed)
        .map_err(|e| Error::validation("service URL", format!("'{trimmed}' is not a URL ({e})")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::validation(
            "service URL",
            "must not contain a user name or password; sign in with the email and password fields",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::validation(
            "service URL",
            "must not have a query (?…) or fragment (#…)",
        ));
    }
    let shown = url.as_str().to_string();
    match url.scheme() {
        "https" => {
            if url.host().is_none() {
                return Err(Error::validation("service URL", "has no host"));
            }
        }
        "http" => {
            if !is_loopback(&url) {
                return Err(Error::InsecureUrl {
                    url: shown,
                    reason: "plain http:// is only allowed for this computer (localhost, 127.0.0.1, ::1); use https:// for any other host".to_string(),
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
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
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
