//! Observability: one JSON log line per request carrying the edge's request id, and
//! Prometheus metrics (requests and latency by route, logins, refreshes, reuse detections,
//! webhook events by outcome and processing latency).

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
/// Received → done includes queueing and retries: seconds to hours.
const E2E_BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 300.0, 3600.0, 86400.0];

#[derive(Default)]
struct Histogram {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64; 10], v: f64) {
        self.count += 1;
        self.sum += v;
        for (i, b) in bounds.iter().enumerate() {
            if v <= *b {
                self.buckets[i] += 1;
            }
        }
    }
    fn render(&self, s: &mut String, name: &str, labels: &str, bounds: &[f64; 10]) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in bounds.iter().enumerate() {
            let _ = writeln!(
                s,
                "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {}",
                self.buckets[i]
            );
        }
        let _ = writeln!(
            s,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(s, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(s, "{name}_count{braces} {}", self.count);
    }
}

/// Webhook counters: (kind, provider) → count.
const WEBHOOK_COUNTERS: [(&str, &str); 6] = [
    ("received", "Webhook deliveries stored (new events)."),
    (
        "duplicates",
        "Webhook deliveries refused as already stored (same provider + event id).",
    ),
    ("processed", "Webhook events whose handler succeeded."),
    ("ignored", "Webhook events with no handler for their type."),
    (
        "retries",
        "Webhook handler failures scheduled for another attempt.",
    ),
    ("dead", "Webhook events given up on (dead letter)."),
];

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    logins: Mutex<BTreeMap<&'static str, u64>>,
    refreshes: Mutex<BTreeMap<&'static str, u64>>,
    webhooks: Mutex<BTreeMap<(&'static str, String), u64>>,
    webhook_handler: Mutex<Histogram>,
    webhook_total: Mutex<Histogram>,
}

/// The domain reports its outcomes here.
impl crate::domain::telemetry::Telemetry for Metrics {
    fn login(&self, result: &'static str) {
        *self
            .logins
            .lock()
            .expect("metrics")
            .entry(result)
            .or_default() += 1;
    }
    fn refresh(&self, result: &'static str) {
        *self
            .refreshes
            .lock()
            .expect("metrics")
            .entry(result)
            .or_default() += 1;
    }
    /// `kind` is one of the names in `WEBHOOK_COUNTERS`.
    fn webhook_event(&self, kind: &'static str, provider: &str) {
        *self
            .webhooks
            .lock()
            .expect("metrics")
            .entry((kind, provider.to_owned()))
            .or_default() += 1;
    }
    fn webhook_handler_seconds(&self, secs: f64) {
        self.webhook_handler
            .lock()
            .expect("metrics")
            .observe(&BUCKETS, secs);
    }
    fn webhook_total_seconds(&self, secs: f64) {
        self.webhook_total
            .lock()
            .expect("metrics")
            .observe(&E2E_BUCKETS, secs);
    }
}

impl Metrics {
    fn request(&self, method: &str, route: &str, status: u16, secs: f64) {
        *self
            .requests
            .lock()
            .expect("metrics")
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        let mut l = self.latency.lock().expect("metrics");
        let h = l.entry(route.to_owned()).or_default();
        h.observe(&BUCKETS, secs);
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
        drop(refreshes);
        let webhooks = self.webhooks.lock().expect("metrics");
        for (kind, help) in WEBHOOK_COUNTERS {
            let _ = writeln!(s, "# HELP origin_webhooks_{kind}_total {help}\n# TYPE origin_webhooks_{kind}_total counter");
            for ((k, p), n) in webhooks.iter() {
                if *k == kind {
                    let _ = writeln!(s, "origin_webhooks_{kind}_total{{provider=\"{p}\"}} {n}");
                }
            }
        }
        drop(webhooks);
        s.push_str("# HELP origin_webhook_handler_duration_seconds Time one webhook handler run took.\n# TYPE origin_webhook_handler_duration_seconds histogram\n");
        self.webhook_handler.lock().expect("metrics").render(
            &mut s,
            "origin_webhook_handler_duration_seconds",
            "",
            &BUCKETS,
        );
        s.push_str("# HELP origin_webhook_processing_latency_seconds From receipt to done, queueing and retries included.\n# TYPE origin_webhook_processing_latency_seconds histogram\n");
        self.webhook_total.lock().expect("metrics").render(
            &mut s,
            "origin_webhook_processing_latency_seconds",
            "",
            &E2E_BUCKETS,
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
