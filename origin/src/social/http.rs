//! The origin's HTTP client toward providers: redirects never followed, every call bounded by
//! a timeout, safe calls (GET: discovery, JWKS, profile) retried with exponential backoff and
//! jitter, unsafe ones (the code exchange: a code works once) sent once. Also the per-provider
//! circuit breaker.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};
use rand::Rng;

/// Retries after the first attempt of a safe call.
const SAFE_RETRIES: u32 = 2;
/// First backoff; doubled per retry, plus up to as much again of jitter.
const BACKOFF_BASE_MS: u64 = 100;
/// Larger provider answers are refused (a profile or a JWKS is a few KiB).
const MAX_BODY: usize = 1 << 20;

#[derive(Debug)]
pub enum HttpError {
    /// Connect failure, timeout, reset: the provider is not answering.
    Transport(String),
    /// An answer larger than [`MAX_BODY`] or otherwise unreadable.
    Body(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Transport(e) => write!(f, "transport: {e}"),
            HttpError::Body(e) => write!(f, "body: {e}"),
        }
    }
}
impl std::error::Error for HttpError {}

#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
}

impl Http {
    pub fn new(timeout: Duration) -> Result<Http, String> {
        let client = reqwest::Client::builder()
            // A provider (or someone in the middle) cannot bounce a back-channel call elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent("edge-auth-origin")
            .build()
            .map_err(|e| format!("social http client: {e}"))?;
        Ok(Http { client })
    }

    /// Sends `req`; a GET is retried on transport errors, 429 and 5xx.
    pub async fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let safe = req.method() == axum::http::Method::GET;
        let attempts = if safe { 1 + SAFE_RETRIES } else { 1 };
        let mut last = None;
        for attempt in 0..attempts {
            if attempt > 0 {
                let base = BACKOFF_BASE_MS << (attempt - 1);
                let jitter = rand::thread_rng().gen_range(0..=base);
                tokio::time::sleep(Duration::from_millis(base + jitter)).await;
            }
            match self.once(req.clone()).await {
                Ok(res) if safe && (res.status().is_server_error() || res.status() == 429) => {
                    last = Some(Ok(res));
                }
                Ok(res) => return Ok(res),
                Err(HttpError::Transport(e)) => last = Some(Err(HttpError::Transport(e))),
                Err(e) => return Err(e),
            }
        }
        last.unwrap_or_else(|| Err(HttpError::Transport("no attempt".into())))
    }

    async fn once(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let req = reqwest::Request::try_from(req).map_err(|e| HttpError::Body(e.to_string()))?;
        let res = self
            .client
            .execute(req)
            .await
            .map_err(|e| HttpError::Transport(e.to_string()))?;
        let mut out = axum::http::Response::builder().status(res.status());
        if let Some(h) = out.headers_mut() {
            *h = res.headers().clone();
        }
        if res.content_length().is_some_and(|n| n as usize > MAX_BODY) {
            return Err(HttpError::Body("answer too large".into()));
        }
        let body = res
            .bytes()
            .await
            .map_err(|e| HttpError::Transport(e.to_string()))?;
        if body.len() > MAX_BODY {
            return Err(HttpError::Body("answer too large".into()));
        }
        out.body(body.to_vec())
            .map_err(|e| HttpError::Body(e.to_string()))
    }
}

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

/// A circuit breaker for one provider: `threshold` failed exchanges in a row open it for
/// `cool_down`; then calls are let through again (half-open) and the first failure reopens it.
pub struct Breaker {
    threshold: u32,
    cool_down: Duration,
    state: Mutex<(u32, Option<Instant>)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

impl Breaker {
    pub fn new(threshold: u32, cool_down: Duration) -> Breaker {
        Breaker {
            threshold,
            cool_down,
            state: Mutex::new((0, None)),
        }
    }

    pub fn state(&self) -> BreakerState {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match s.1 {
            Some(until) if Instant::now() < until => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
            None => BreakerState::Closed,
        }
    }

    /// May a call go to the provider now?
    pub fn allow(&self) -> bool {
        self.state() != BreakerState::Open
    }

    pub fn success(&self) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = (0, None);
    }

    pub fn failure(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.0 = s.0.saturating_add(1);
        if s.0 >= self.threshold {
            s.1 = Some(Instant::now() + self.cool_down);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_opens_after_n_failures_and_half_opens_after_the_cool_down() {
        let b = Breaker::new(2, Duration::from_millis(50));
        b.failure();
        assert_eq!(b.state(), BreakerState::Closed);
        b.failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.failure();
        assert_eq!(b.state(), BreakerState::Open, "a failed probe reopens it");
        std::thread::sleep(Duration::from_millis(60));
        b.success();
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
