//! Observability: one JSON log line per request carrying the edge's request id, and
//! Prometheus metrics (requests and latency by route, logins, refreshes, reuse detections).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::AppState;

const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

#[derive(Default)]
struct Histogram {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    logins: Mutex<BTreeMap<&'static str, u64>>,
    refreshes: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    pub fn login(&self, result: &'static str) {
        *self
            .logins
            .lock()
            .expect("metrics")
            .entry(result)
            .or_default() += 1;
    }
    pub fn refresh(&self, result: &'static str) {
        *self
            .refreshes
            .lock()
            .expect("metrics")
            .entry(result)
            .or_default() += 1;
    }
    fn request(&self, method: &str, route: &str, status: u16, secs: f64) {
        *self
            .requests
            .lock()
            .expect("metrics")
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        let mut l = self.latency.lock().expect("metrics");
        let h = l.entry(route.to_owned()).or_default();
        h.count += 1;
        h.sum += secs;
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.buckets[i] += 1;
            }
        }
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str("# HELP origin_http_requests_total HTTP requests by method, route and status.\n# TYPE origin_http_requests_total counter\n");
        for ((m, r, st), n) in self.requests.lock().expect("metrics").iter() {
            let _ = writeln!(
                s,
                "origin_http_requests_total{{method=\"{m}\",route=\"{r}\",status=\"{st}\"}} {n}"
            );
        }
        s.push_str("# HELP origin_http_request_duration_seconds Request latency by route.\n# TYPE origin_http_request_duration_seconds histogram\n");
        for (r, h) in self.latency.lock().expect("metrics").iter() {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "origin_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{b}\"}} {}",
                    h.buckets[i]
                );
            }
            let _ = writeln!(
                s,
                "origin_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                s,
                "origin_http_request_duration_seconds_sum{{route=\"{r}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                s,
                "origin_http_request_duration_seconds_count{{route=\"{r}\"}} {}",
                h.count
            );
        }
        s.push_str("# HELP origin_logins_total Password logins by result.\n# TYPE origin_logins_total counter\n");
        for (r, n) in self.logins.lock().expect("metrics").iter() {
            let _ = writeln!(s, "origin_logins_total{{result=\"{r}\"}} {n}");
        }
        s.push_str("# HELP origin_refreshes_total Refresh token presentations by result.\n# TYPE origin_refreshes_total counter\n");
        let refreshes = self.refreshes.lock().expect("metrics");
        for (r, n) in refreshes.iter() {
            let _ = writeln!(s, "origin_refreshes_total{{result=\"{r}\"}} {n}");
        }
        s.push_str("# HELP origin_refresh_reuse_detections_total Rotated refresh tokens presented again (session revoked).\n# TYPE origin_refresh_reuse_detections_total counter\n");
        let _ = writeln!(
            s,
            "origin_refresh_reuse_detections_total {}",
            refreshes.get("reuse_detected").copied().unwrap_or(0)
        );
        s
    }
}

/// A request id is kept only if it is short and printable (it ends up in logs).
fn request_id(req: &Request) -> String {
    req.headers()
        .get(edge_auth::envelope::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("-")
        .to_owned()
}

pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let rid = request_id(&req);
    let span = tracing::info_span!("request", request_id = %rid, method = %method, route = %route);
    let res = next.run(req).instrument(span.clone()).await;
    let secs = start.elapsed().as_secs_f64();
    let status = res.status().as_u16();
    state.metrics.request(&method, &route, status, secs);
    span.in_scope(|| {
        tracing::info!(status, latency_us = (secs * 1e6) as u64, "request");
    });
    res
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
