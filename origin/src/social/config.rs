//! Social sign-in settings: per provider a client id/secret and its endpoints (overridable, so
//! tests and `scripts/run.sh` point them at local providers), plus timeouts and the breaker.
//! A provider without a client id is not offered.

use std::fmt;

use crate::config::ConfigError;

/// The providers this origin knows. The path segment of `/auth/oauth/{provider}/…`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProviderId {
    Google,
    Github,
    Kakao,
}

impl ProviderId {
    pub const ALL: [ProviderId; 3] = [ProviderId::Google, ProviderId::Github, ProviderId::Kakao];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderId::Google => "google",
            ProviderId::Github => "github",
            ProviderId::Kakao => "kakao",
        }
    }
    /// What people call it ("Google sign-in is unavailable").
    pub fn name(self) -> &'static str {
        match self {
            ProviderId::Google => "Google",
            ProviderId::Github => "GitHub",
            ProviderId::Kakao => "Kakao",
        }
    }
    pub fn parse(s: &str) -> Option<ProviderId> {
        ProviderId::ALL.into_iter().find(|p| p.as_str() == s)
    }
    /// OpenID Connect (discovery, id_token) or GitHub's plain OAuth 2.
    pub fn is_oidc(self) -> bool {
        !matches!(self, ProviderId::Github)
    }
}

/// A client secret: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(pub String);

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderConfig {
    pub id: ProviderId,
    /// `<P>_CLIENT_ID`.
    pub client_id: String,
    /// `<P>_CLIENT_SECRET`.
    pub client_secret: ClientSecret,
    /// `<P>_ISSUER`: the OpenID issuer (discovery at `{issuer}/.well-known/openid-configuration`);
    /// for GitHub the identity namespace stored with each identity (`https://github.com`).
    pub issuer: String,
    /// GitHub only: `GITHUB_AUTHORIZE_URL`, `GITHUB_TOKEN_URL`.
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    /// `GITHUB_API_URL` (`/user`, `/user/emails`) or `KAKAO_API_URL` (`/v2/user/me`).
    pub api_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocialConfig {
    /// `PUBLIC_URL`: the site's public base; redirect URIs are exactly
    /// `{PUBLIC_URL}/auth/oauth/{provider}/callback`. Required once a provider is configured.
    pub public_url: Option<String>,
    /// `SOCIAL_ALLOW_HTTP` (default false): accept `http://` provider URLs — local providers in
    /// development and tests only.
    pub allow_http: bool,
    /// `SOCIAL_TIMEOUT_MS` (default 5000, 100–30000): per call to a provider; a whole callback
    /// is bounded by three times this.
    pub timeout_ms: u64,
    /// `SOCIAL_BREAKER_FAILURES` (default 3): failed provider exchanges in a row that open that
    /// provider's circuit.
    pub breaker_failures: u32,
    /// `SOCIAL_BREAKER_COOL_DOWN_SECS` (default 30): how long it stays open before one probe.
    pub breaker_cool_down_secs: u64,
    pub providers: Vec<ProviderConfig>,
}

impl SocialConfig {
    pub fn provider(&self, id: ProviderId) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.id == id)
    }
}

fn err(var: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        problem: problem.into(),
    }
}

fn check_url(var: &'static str, v: &str, allow_http: bool) -> Result<String, ConfigError> {
    let u = url::Url::parse(v).map_err(|e| err(var, format!("{v:?} is not a URL: {e}")))?;
    match u.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(err(
                var,
                "must be https (http:// only with SOCIAL_ALLOW_HTTP=true, for local providers)",
            ))
        }
        s => return Err(err(var, format!("scheme {s:?} is not https"))),
    }
    if u.query().is_some() || u.fragment().is_some() || u.host_str().is_none() {
        return Err(err(var, "must be a plain URL without query or fragment"));
    }
    Ok(v.trim_end_matches('/').to_owned())
}

struct Vars {
    id: &'static str,
    secret: &'static str,
    issuer: &'static str,
    default_issuer: &'static str,
}

/// Reads the social settings (`get` answers trimmed, non-empty variables).
pub fn parse(get: &dyn Fn(&str) -> Option<String>) -> Result<SocialConfig, ConfigError> {
    let allow_http = match get("SOCIAL_ALLOW_HTTP").as_deref() {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(s) => return Err(err("SOCIAL_ALLOW_HTTP", format!("{s:?} is not true/false"))),
    };
    let num = |var: &'static str, default: u64, lo: u64, hi: u64| -> Result<u64, ConfigError> {
        let n = match get(var) {
            None => default,
            Some(s) => s
                .parse()
                .map_err(|_| err(var, format!("{s:?} is not a valid number")))?,
        };
        if !(lo..=hi).contains(&n) {
            return Err(err(var, format!("{n} is outside {lo}..={hi}")));
        }
        Ok(n)
    };
    let timeout_ms = num("SOCIAL_TIMEOUT_MS", 5000, 100, 30_000)?;
    let breaker_failures = num("SOCIAL_BREAKER_FAILURES", 3, 1, 100)? as u32;
    let breaker_cool_down_secs = num("SOCIAL_BREAKER_COOL_DOWN_SECS", 30, 1, 3600)?;
    let mut providers = Vec::new();
    for id in ProviderId::ALL {
        let v = match id {
            ProviderId::Google => Vars {
                id: "GOOGLE_CLIENT_ID",
                secret: "GOOGLE_CLIENT_SECRET",
                issuer: "GOOGLE_ISSUER",
                default_issuer: "https://accounts.google.com",
            },
            ProviderId::Github => Vars {
                id: "GITHUB_CLIENT_ID",
                secret: "GITHUB_CLIENT_SECRET",
                issuer: "GITHUB_ISSUER",
                default_issuer: "https://github.com",
            },
            ProviderId::Kakao => Vars {
                id: "KAKAO_CLIENT_ID",
                secret: "KAKAO_CLIENT_SECRET",
                issuer: "KAKAO_ISSUER",
                default_issuer: "https://kauth.kakao.com",
            },
        };
        let Some(client_id) = get(v.id) else {
            continue;
        };
        let client_secret = get(v.secret)
            .ok_or_else(|| err(v.secret, format!("is required when {} is set", v.id)))?;
        let issuer = check_url(
            v.issuer,
            &get(v.issuer).unwrap_or_else(|| v.default_issuer.to_owned()),
            allow_http,
        )?;
        let (authorize_url, token_url, api_url) = match id {
            ProviderId::Github => (
                Some(check_url(
                    "GITHUB_AUTHORIZE_URL",
                    &get("GITHUB_AUTHORIZE_URL")
                        .unwrap_or_else(|| format!("{issuer}/login/oauth/authorize")),
                    allow_http,
                )?),
                Some(check_url(
                    "GITHUB_TOKEN_URL",
                    &get("GITHUB_TOKEN_URL")
                        .unwrap_or_else(|| format!("{issuer}/login/oauth/access_token")),
                    allow_http,
                )?),
                Some(check_url(
                    "GITHUB_API_URL",
                    &get("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into()),
                    allow_http,
                )?),
            ),
            ProviderId::Kakao => (
                None,
                None,
                Some(check_url(
                    "KAKAO_API_URL",
                    &get("KAKAO_API_URL").unwrap_or_else(|| "https://kapi.kakao.com".into()),
                    allow_http,
                )?),
            ),
            ProviderId::Google => (None, None, None),
        };
        providers.push(ProviderConfig {
            id,
            client_id,
            client_secret: ClientSecret(client_secret),
            issuer,
            authorize_url,
            token_url,
            api_url,
        });
    }
    let public_url = match get("PUBLIC_URL") {
        None if !providers.is_empty() => return Err(err(
            "PUBLIC_URL",
            "is required when a social provider is configured (redirect URIs are built from it)",
        )),
        None => None,
        Some(u) => Some(check_url("PUBLIC_URL", &u, true)?),
    };
    Ok(SocialConfig {
        public_url,
        allow_http,
        timeout_ms,
        breaker_failures,
        breaker_cool_down_secs,
        providers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse_map(pairs: &[(&str, &str)]) -> Result<SocialConfig, ConfigError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(&|k| m.get(k).cloned())
    }

    #[test]
    fn an_unconfigured_provider_is_not_offered() {
        let c = parse_map(&[]).unwrap();
        assert!(c.providers.is_empty());
        let c = parse_map(&[
            ("GOOGLE_CLIENT_ID", "id"),
            ("GOOGLE_CLIENT_SECRET", "s"),
            ("PUBLIC_URL", "https://auth.example.com"),
        ])
        .unwrap();
        assert_eq!(c.providers.len(), 1);
        assert_eq!(c.providers[0].issuer, "https://accounts.google.com");
        assert!(format!("{:?}", c).contains("<redacted>"));
    }

    #[test]
    fn http_issuers_need_the_development_setting() {
        let base = [
            ("GOOGLE_CLIENT_ID", "id"),
            ("GOOGLE_CLIENT_SECRET", "s"),
            ("PUBLIC_URL", "http://127.0.0.1:8787"),
            ("GOOGLE_ISSUER", "http://127.0.0.1:9000"),
        ];
        let e = parse_map(&base).unwrap_err();
        assert_eq!(e.var, "GOOGLE_ISSUER");
        let mut dev = base.to_vec();
        dev.push(("SOCIAL_ALLOW_HTTP", "true"));
        assert!(parse_map(&dev).is_ok());
    }

    #[test]
    fn a_client_id_needs_its_secret_and_a_public_url() {
        assert_eq!(
            parse_map(&[("GITHUB_CLIENT_ID", "id")]).unwrap_err().var,
            "GITHUB_CLIENT_SECRET"
        );
        assert_eq!(
            parse_map(&[("GITHUB_CLIENT_ID", "id"), ("GITHUB_CLIENT_SECRET", "s")])
                .unwrap_err()
                .var,
            "PUBLIC_URL"
        );
    }
}
