//! Social sign-in toward the providers: the authorization request (code + PKCE S256, `state`,
//! nonce), and the callback's checks and back-channel calls, down to a [`Profile`] the domain
//! (`domain::identities`) turns into a session or a link. Google and Kakao speak OpenID Connect
//! (discovery, JWKS, id_token checked by the `openidconnect` crate); GitHub plain OAuth 2 with
//! its quirks (a form-encoded token answer unless asked for JSON, errors as HTTP 200
//! `{"error": …}`, a numeric user id, e-mails with their own verified flags).

pub mod config;
pub mod flow;
pub mod http;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreGrantType, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    ProviderMetadata, RedirectUrl, RequestTokenError, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use self::config::{ProviderConfig, ProviderId, SocialConfig};
use self::flow::Flow;
use self::http::{Breaker, BreakerState, Http};
use crate::domain::error::{DomainError, DomainResult, SocialRefused};
use crate::domain::ids::{hex, random_bytes};
use crate::domain::keys::KeyStore;

/// How long discovery metadata (and the JWKS fetched with it) is reused.
const METADATA_TTL: Duration = Duration::from_secs(600);

/// Discovery metadata plus RFC 9207's flag (`openidconnect` keeps unknown members here).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct IssFlag {
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}
impl AdditionalProviderMetadata for IssFlag {}

type Metadata = ProviderMetadata<
    IssFlag,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// Who the provider says signed in, after every check.
#[derive(Clone, Debug)]
pub struct Profile {
    pub provider: ProviderId,
    /// The identity namespace: the OpenID issuer, or GitHub's configured issuer.
    pub issuer: String,
    /// The provider's stable key for the person (`sub`, GitHub's numeric `id`).
    pub subject: String,
    pub email: Option<String>,
    /// The provider vouches for `email`.
    pub email_verified: bool,
    /// The provider tokens (JSON), kept encrypted by the domain, never sent to the browser.
    pub tokens: String,
}

/// What the callback received in its query.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
}

pub struct Social {
    pub config: SocialConfig,
    http: Http,
    breakers: HashMap<ProviderId, Breaker>,
    metadata: Mutex<HashMap<ProviderId, (Instant, Arc<Metadata>)>>,
}

/// A failed back-channel exchange: the provider's fault (counts towards its breaker), or a
/// refusal of what we sent (it does not).
enum Failure {
    Upstream(String),
    Refused(SocialRefused),
}

impl From<SocialRefused> for Failure {
    fn from(r: SocialRefused) -> Self {
        Failure::Refused(r)
    }
}

fn random_token() -> String {
    hex(&random_bytes::<32>())
}

fn ct_eq(a: &str, b: &str) -> bool {
    use sha2::{Digest, Sha256};
    // Equal-length digests compared without early exit.
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

impl Social {
    pub fn new(config: SocialConfig) -> Result<Social, String> {
        let http = Http::new(Duration::from_millis(config.timeout_ms))?;
        let breakers = ProviderId::ALL
            .into_iter()
            .map(|p| {
                (
                    p,
                    Breaker::new(
                        config.breaker_failures,
                        Duration::from_secs(config.breaker_cool_down_secs),
                    ),
                )
            })
            .collect();
        Ok(Social {
            config,
            http,
            breakers,
            metadata: Mutex::new(HashMap::new()),
        })
    }

    /// The configured provider named `name`.
    pub fn provider(&self, name: &str) -> DomainResult<&ProviderConfig> {
        ProviderId::parse(name)
            .and_then(|p| self.config.provider(p))
            .ok_or(DomainError::Social(SocialRefused::ProviderUnknown))
    }

    pub fn breaker_state(&self, p: ProviderId) -> BreakerState {
        self.breakers
            .get(&p)
            .map_or(BreakerState::Closed, Breaker::state)
    }

    fn breaker(&self, p: ProviderId) -> Option<&Breaker> {
        self.breakers.get(&p)
    }

    /// The exact redirect URI registered at the provider.
    pub fn redirect_uri(&self, p: ProviderId) -> String {
        format!(
            "{}/auth/oauth/{}/callback",
            self.config.public_url.as_deref().unwrap_or(""),
            p.as_str()
        )
    }

    fn unavailable(&self, p: ProviderId, why: &str) -> DomainError {
        tracing::warn!(side = "upstream", provider = p.as_str(), error = %why, "provider call failed");
        DomainError::ProviderUnavailable { provider: p.name() }
    }

    /// Runs one exchange with `p` under its breaker and a bound on the whole wait. Only a
    /// completed exchange (`closes`) closes the breaker: a discovery answered from cache at the
    /// start of a flow proves nothing about the provider.
    async fn guarded<T, F>(&self, p: ProviderId, closes: bool, fut: F) -> DomainResult<T>
    where
        F: std::future::Future<Output = Result<T, Failure>>,
    {
        let breaker = self.breaker(p);
        if breaker.is_some_and(|b| !b.allow()) {
            return Err(DomainError::ProviderUnavailable { provider: p.name() });
        }
        let bound = Duration::from_millis(self.config.timeout_ms * 3);
        let out = match tokio::time::timeout(bound, fut).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Upstream(format!("no answer within {bound:?}"))),
        };
        match out {
            Ok(v) => {
                if let Some(b) = breaker.filter(|_| closes) {
                    b.success();
                }
                Ok(v)
            }
            Err(Failure::Refused(r)) => {
                // The provider answered: it is up.
                if let Some(b) = breaker {
                    b.success();
                }
                Err(DomainError::Social(r))
            }
            Err(Failure::Upstream(why)) => {
                if let Some(b) = breaker {
                    b.failure();
                }
                Err(self.unavailable(p, &why))
            }
        }
    }

    async fn metadata(&self, pc: &ProviderConfig) -> Result<Arc<Metadata>, Failure> {
        if let Some((at, m)) = self
            .metadata
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&pc.id)
        {
            if at.elapsed() < METADATA_TTL {
                return Ok(m.clone());
            }
        }
        let issuer = IssuerUrl::new(pc.issuer.clone())
            .map_err(|e| Failure::Upstream(format!("issuer url: {e}")))?;
        // Discovery checks that the document's issuer is exactly ours, then fetches the JWKS.
        let m = Metadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| Failure::Upstream(format!("discovery: {e}")))?;
        let m = Arc::new(m);
        self.metadata
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(pc.id, (Instant::now(), m.clone()));
        Ok(m)
    }

    /// Forgets a provider's metadata (its keys may have rotated).
    fn forget_metadata(&self, p: ProviderId) {
        self.metadata
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&p);
    }

    /// The authorization request: where to send the browser, and the sealed flow cookie.
    pub async fn start(
        &self,
        keys: &KeyStore,
        pc: &ProviderConfig,
        next: &str,
        link_user: Option<String>,
        now_ms: i64,
    ) -> DomainResult<(String, String)> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = random_token();
        let nonce = random_token();
        let redirect = self.redirect_uri(pc.id);
        let (url, issuer) = if pc.id.is_oidc() {
            let m = self
                .guarded(pc.id, false, async { self.metadata(pc).await })
                .await?;
            let client = CoreClient::from_provider_metadata(
                (*m).clone(),
                ClientId::new(pc.client_id.clone()),
                Some(ClientSecret::new(pc.client_secret.0.clone())),
            )
            .set_redirect_uri(
                RedirectUrl::new(redirect).map_err(|e| DomainError::internal(e.to_string()))?,
            );
            let (s, n) = (state.clone(), nonce.clone());
            let (url, _, _) = client
                .authorize_url(
                    CoreAuthenticationFlow::AuthorizationCode,
                    move || CsrfToken::new(s),
                    move || Nonce::new(n),
                )
                .add_scope(Scope::new("email".into()))
                .add_scope(Scope::new("profile".into()))
                .set_pkce_challenge(challenge)
                .url();
            (
                url.to_string(),
                m.issuer().url().as_str().trim_end_matches('/').to_owned(),
            )
        } else {
            let mut url = url::Url::parse(pc.authorize_url.as_deref().unwrap_or_default())
                .map_err(|e| DomainError::internal(format!("authorize url: {e}")))?;
            url.query_pairs_mut()
                .append_pair("response_type", "code")
                .append_pair("client_id", &pc.client_id)
                .append_pair("redirect_uri", &redirect)
                .append_pair("scope", "read:user user:email")
                .append_pair("state", &state)
                .append_pair("code_challenge", challenge.as_str())
                .append_pair("code_challenge_method", "S256")
                .append_pair("allow_signup", "true");
            (url.to_string(), pc.issuer.clone())
        };
        let flow = Flow {
            provider: pc.id.as_str().to_owned(),
            state,
            nonce,
            verifier: verifier.secret().clone(),
            issuer,
            next: next.to_owned(),
            link_user,
            expires_at: now_ms + flow::TTL_MS,
        };
        let cookie = flow
            .seal(keys)
            .ok_or_else(|| DomainError::internal("sealing the flow cookie failed"))?;
        Ok((url, cookie))
    }

    /// The callback's checks that need no provider: the flow cookie, `state`, RFC 9207 `iss`,
    /// the provider's own error. Returns the flow and the code.
    pub fn check_callback(
        &self,
        keys: &KeyStore,
        pc: &ProviderConfig,
        params: &CallbackParams,
        cookie: Option<&str>,
        now_ms: i64,
    ) -> DomainResult<(Flow, String)> {
        let refuse = |r| DomainError::Social(r);
        let cookie = cookie.ok_or(refuse(SocialRefused::FlowMissing))?;
        let flow = Flow::open(keys, pc.id.as_str(), cookie)
            .filter(|f| f.expires_at > now_ms)
            .ok_or(refuse(SocialRefused::StateInvalid))?;
        let state = params
            .state
            .as_deref()
            .ok_or(refuse(SocialRefused::StateInvalid))?;
        if !ct_eq(state, &flow.state) {
            return Err(refuse(SocialRefused::StateInvalid));
        }
        if params.error.is_some() {
            return Err(refuse(SocialRefused::ProviderDenied));
        }
        let code = params
            .code
            .clone()
            .filter(|c| !c.is_empty() && c.len() <= 2048)
            .ok_or(refuse(SocialRefused::CodeMissing))?;
        Ok((flow, code))
    }

    /// RFC 9207: `iss` in the authorization response must be the flow's issuer; when the
    /// provider's metadata promises it, it must be there.
    async fn check_iss(
        &self,
        pc: &ProviderConfig,
        flow: &Flow,
        iss: Option<&str>,
    ) -> Result<(), Failure> {
        match iss {
            Some(i) if i.trim_end_matches('/') == flow.issuer => Ok(()),
            Some(_) => Err(SocialRefused::IssuerMismatch.into()),
            None if pc.id.is_oidc() => {
                let m = self.metadata(pc).await?;
                if m.additional_metadata()
                    .authorization_response_iss_parameter_supported
                {
                    Err(SocialRefused::IssuerMismatch.into())
                } else {
                    Ok(())
                }
            }
            None => Ok(()),
        }
    }

    /// The back channel: code (+ PKCE verifier) for tokens, the id_token's checks, the profile.
    pub async fn exchange(
        &self,
        pc: &ProviderConfig,
        flow: &Flow,
        code: String,
        iss: Option<&str>,
    ) -> DomainResult<Profile> {
        let r = self
            .guarded(pc.id, true, async {
                self.check_iss(pc, flow, iss).await?;
                match pc.id {
                    ProviderId::Github => self.github(pc, flow, code).await,
                    _ => self.oidc(pc, flow, code).await,
                }
            })
            .await;
        if matches!(
            r,
            Err(DomainError::Social(SocialRefused::IdTokenSignatureInvalid))
        ) {
            // Perhaps new keys: the next sign-in rediscovers.
            self.forget_metadata(pc.id);
        }
        r
    }

    async fn oidc(
        &self,
        pc: &ProviderConfig,
        flow: &Flow,
        code: String,
    ) -> Result<Profile, Failure> {
        let m = self.metadata(pc).await?;
        let client = CoreClient::from_provider_metadata(
            (*m).clone(),
            ClientId::new(pc.client_id.clone()),
            Some(ClientSecret::new(pc.client_secret.0.clone())),
        )
        .set_redirect_uri(
            RedirectUrl::new(self.redirect_uri(pc.id))
                .map_err(|e| Failure::Upstream(e.to_string()))?,
        );
        let req = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| Failure::Upstream(format!("no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier.clone()));
        let tokens = match req.request_async(&self.http).await {
            Ok(t) => t,
            Err(RequestTokenError::ServerResponse(e)) => {
                tracing::info!(provider = pc.id.as_str(), error = %e, "token endpoint refused the code");
                return Err(SocialRefused::CodeRejected.into());
            }
            Err(e) => return Err(Failure::Upstream(format!("token endpoint: {e}"))),
        };
        let id_token = tokens.id_token().ok_or(SocialRefused::IdTokenMissing)?;
        let verifier = client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, &Nonce::new(flow.nonce.clone()))
            .map_err(|e| {
                tracing::info!(provider = pc.id.as_str(), error = %e, "id_token refused");
                Failure::Refused(match e {
                    ClaimsVerificationError::Expired(_) => SocialRefused::IdTokenExpired,
                    ClaimsVerificationError::InvalidAudience(_) => {
                        SocialRefused::IdTokenAudienceInvalid
                    }
                    ClaimsVerificationError::InvalidIssuer(_) => {
                        SocialRefused::IdTokenIssuerInvalid
                    }
                    ClaimsVerificationError::InvalidNonce(_) => SocialRefused::IdTokenNonceMismatch,
                    ClaimsVerificationError::SignatureVerification(_) => {
                        SocialRefused::IdTokenSignatureInvalid
                    }
                    _ => SocialRefused::IdTokenInvalid,
                })
            })?;
        let subject = claims.subject().as_str().to_owned();
        let access = tokens.access_token().secret().clone();
        let kept = serde_json::json!({
            "access_token": access,
            "refresh_token": tokens.refresh_token().map(|t| t.secret().clone()),
        })
        .to_string();
        let (email, email_verified) = match pc.id {
            ProviderId::Kakao => self.kakao_profile(pc, &access, &subject).await?,
            _ => (
                claims.email().map(|e| e.as_str().to_owned()),
                claims.email_verified().unwrap_or(false),
            ),
        };
        Ok(Profile {
            provider: pc.id,
            issuer: flow.issuer.clone(),
            subject,
            email,
            email_verified,
            tokens: kept,
        })
    }

    async fn get_json(&self, url: &str, bearer: &str, accept: &str) -> Result<Value, Failure> {
        let req = axum::http::Request::get(url)
            .header("authorization", format!("Bearer {bearer}"))
            .header("accept", accept)
            .body(Vec::new())
            .map_err(|e| Failure::Upstream(e.to_string()))?;
        let res = self
            .http
            .send(req)
            .await
            .map_err(|e| Failure::Upstream(e.to_string()))?;
        if !res.status().is_success() {
            return Err(Failure::Upstream(format!("{url}: HTTP {}", res.status())));
        }
        serde_json::from_slice(res.body()).map_err(|e| Failure::Upstream(format!("{url}: {e}")))
    }

    /// Kakao: the profile comes from kapi `/v2/user/me`; its `id` must be the id_token's `sub`.
    async fn kakao_profile(
        &self,
        pc: &ProviderConfig,
        access: &str,
        subject: &str,
    ) -> Result<(Option<String>, bool), Failure> {
        let api = pc.api_url.as_deref().unwrap_or_default();
        let me = self
            .get_json(&format!("{api}/v2/user/me"), access, "application/json")
            .await?;
        let id = me["id"].as_i64().map(|n| n.to_string());
        if id.as_deref() != Some(subject) {
            tracing::info!(provider = "kakao", kapi_id = ?id, sub = subject, "kapi id is not the id_token's sub");
            return Err(SocialRefused::ProfileInvalid.into());
        }
        let acct = &me["kakao_account"];
        let email = acct["email"].as_str().map(str::to_owned);
        let verified = acct["is_email_verified"] == true && acct["is_email_valid"] != false;
        Ok((email, verified))
    }

    /// GitHub: the token answer (asked for as JSON; form-encoded tolerated; errors come as HTTP
    /// 200 `{"error": …}`), then `/user` (numeric id) and `/user/emails` (the primary address,
    /// only if verified — GitHub accepts unverified primary addresses).
    async fn github(
        &self,
        pc: &ProviderConfig,
        flow: &Flow,
        code: String,
    ) -> Result<Profile, Failure> {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &pc.client_id)
            .append_pair("client_secret", &pc.client_secret.0)
            .append_pair("code", &code)
            .append_pair("redirect_uri", &self.redirect_uri(pc.id))
            .append_pair("code_verifier", &flow.verifier)
            .finish();
        let req = axum::http::Request::post(pc.token_url.as_deref().unwrap_or_default())
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.into_bytes())
            .map_err(|e| Failure::Upstream(e.to_string()))?;
        let res = self
            .http
            .send(req)
            .await
            .map_err(|e| Failure::Upstream(e.to_string()))?;
        if res.status().is_server_error() || res.status() == 429 {
            return Err(Failure::Upstream(format!(
                "token endpoint: HTTP {}",
                res.status()
            )));
        }
        let is_json = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let answer: HashMap<String, Value> = if is_json {
            serde_json::from_slice(res.body())
                .map_err(|e| Failure::Upstream(format!("token answer: {e}")))?
        } else {
            url::form_urlencoded::parse(res.body())
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect()
        };
        if let Some(e) = answer.get("error") {
            tracing::info!(provider = "github", error = %e, "token endpoint refused the code");
            return Err(SocialRefused::CodeRejected.into());
        }
        if !res.status().is_success() {
            return Err(SocialRefused::CodeRejected.into());
        }
        let access = answer
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Failure::Upstream("token answer without access_token".into()))?
            .to_owned();
        let api = pc.api_url.as_deref().unwrap_or_default();
        let accept = "application/vnd.github+json";
        let user = self
            .get_json(&format!("{api}/user"), &access, accept)
            .await?;
        let subject = user["id"]
            .as_u64()
            .map(|n| n.to_string())
            .ok_or(SocialRefused::ProfileInvalid)?;
        let emails = self
            .get_json(&format!("{api}/user/emails"), &access, accept)
            .await?;
        let primary = emails
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["primary"] == true);
        let email = primary.and_then(|e| e["email"].as_str()).map(str::to_owned);
        let email_verified = primary.is_some_and(|e| e["verified"] == true);
        Ok(Profile {
            provider: pc.id,
            issuer: pc.issuer.clone(),
            subject,
            email,
            email_verified,
            tokens: serde_json::json!({ "access_token": access }).to_string(),
        })
    }
}
