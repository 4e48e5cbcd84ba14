//! Where this Worker runs (`DEPLOY_ENV`) and what that allows: a production Worker only talks to
//! public https hosts, so a deploy that still carries a laptop's `http://127.0.0.1:8788` is
//! refused at load with the variable's name instead of failing every forward.

use core::fmt;

/// `DEPLOY_ENV`: `production` (the default: a Worker that does not say otherwise is treated as
/// deployed) or `development` (`wrangler dev`, tests, benchmarks: loopback and private hosts
/// allowed, http allowed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeployEnv {
    Development,
    Production,
}

impl DeployEnv {
    /// Reads the variable's value; `None` (unset) is production.
    pub fn parse(value: Option<&str>) -> Result<DeployEnv, String> {
        match value.map(str::trim) {
            None | Some("") | Some("production") => Ok(DeployEnv::Production),
            Some("development") => Ok(DeployEnv::Development),
            Some(other) => Err(format!("{other:?} is not one of production, development")),
        }
    }

    /// Why `url` may not be called from this environment, if it may not.
    pub fn refuses(self, url: &str) -> Option<UrlRefusal> {
        if self == DeployEnv::Development {
            return None;
        }
        let Some(rest) = url.strip_prefix("https://") else {
            return Some(UrlRefusal::NotHttps);
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = host_of(authority);
        internal_host(host).then(|| UrlRefusal::InternalHost(host.to_owned()))
    }
}

/// What is wrong with a URL for a production Worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlRefusal {
    NotHttps,
    InternalHost(String),
}

impl fmt::Display for UrlRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlRefusal::NotHttps => f.write_str(
                "must be an https URL in production (DEPLOY_ENV=development allows http for local runs)",
            ),
            UrlRefusal::InternalHost(h) => write!(
                f,
                "names {h:?}, a loopback, private or local host, which a deployed Worker cannot \
                 reach: set your public host (DEPLOY_ENV=development allows it for local runs)"
            ),
        }
    }
}

/// The host of `userinfo@host:port` (brackets kept off IPv6 literals), lower-cased later.
fn host_of(authority: &str) -> &str {
    let after_user = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = after_user.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    after_user.split(':').next().unwrap_or("")
}

/// Loopback, private (RFC 1918, RFC 4193), link-local, unspecified, CGNAT, or a name that only
/// resolves inside a network (`localhost`, `*.localhost`, `*.local`, `*.internal`, a bare label).
fn internal_host(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    if h.is_empty() {
        return true;
    }
    if let Ok(v4) = h.parse::<core::net::Ipv4Addr>() {
        let [a, b, ..] = v4.octets();
        return v4.is_loopback()
            || v4.is_private()
            || v4.is_link_local()
            || v4.is_unspecified()
            || v4.is_broadcast()
            || (a == 100 && (64..128).contains(&b)); // CGNAT, RFC 6598
    }
    if let Ok(v6) = h.parse::<core::net::Ipv6Addr>() {
        let first = v6.segments()[0];
        if let Some(v4) = v6.to_ipv4_mapped() {
            return internal_host(&v4.to_string());
        }
        return v6.is_loopback()
            || v6.is_unspecified()
            || (first & 0xfe00) == 0xfc00 // unique local
            || (first & 0xffc0) == 0xfe80; // link-local
    }
    h == "localhost"
        || [".localhost", ".local", ".internal", ".lan", ".home.arpa"]
            .iter()
            .any(|s| h.ends_with(s))
        || !h.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_means_production_and_unknown_values_are_refused() {
        assert_eq!(DeployEnv::parse(None), Ok(DeployEnv::Production));
        assert_eq!(
            DeployEnv::parse(Some("production")),
            Ok(DeployEnv::Production)
        );
        assert_eq!(
            DeployEnv::parse(Some("development")),
            Ok(DeployEnv::Development)
        );
        assert!(DeployEnv::parse(Some("prod"))
            .unwrap_err()
            .contains("\"prod\""));
    }

    #[test]
    fn production_refuses_every_internal_or_plain_http_origin() {
        let refused = [
            "http://origin.example.com",
            "https://127.0.0.1:8788",
            "https://127.8.9.10",
            "https://localhost",
            "https://LOCALHOST.:8443/x",
            "https://api.localhost",
            "https://10.0.0.5",
            "https://172.16.3.4",
            "https://192.168.1.1",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1",
            "https://0.0.0.0",
            "https://[::1]:8788",
            "https://[fd00::1]",
            "https://[fe80::1]",
            "https://[::ffff:127.0.0.1]",
            "https://db.internal",
            "https://printer.local",
            "https://origin",
            "https://user@127.0.0.1",
            "https://",
        ];
        for url in refused {
            assert!(
                DeployEnv::Production.refuses(url).is_some(),
                "{url} must be refused"
            );
        }
        let allowed = [
            "https://origin.example.com",
            "https://origin.example.com:8443/base",
            "https://203.0.113.10",
            "https://[2001:db8::1]",
            "https://172.32.0.1",
        ];
        for url in allowed {
            assert_eq!(DeployEnv::Production.refuses(url), None, "{url}");
        }
        for url in refused {
            assert_eq!(
                DeployEnv::Development.refuses(url),
                None,
                "development allows {url}"
            );
        }
    }

    #[test]
    fn a_refusal_says_what_to_do() {
        let r = DeployEnv::Production
            .refuses("https://127.0.0.1:8788")
            .unwrap();
        assert!(r.to_string().contains("\"127.0.0.1\""), "{r}");
        assert!(r.to_string().contains("DEPLOY_ENV=development"), "{r}");
    }
}
