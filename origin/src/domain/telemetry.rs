//! What the domain reports as it works (log-ins, refreshes, webhook outcomes), as a trait: the
//! HTTP layer's Prometheus registry implements it, the domain never names a concrete metrics type.

/// Outcome counters and timings. Every method defaults to doing nothing.
pub trait Telemetry: Send + Sync {
    /// A password log-in ended: `success`, `failure`, `throttled`, `disabled`.
    fn login(&self, _outcome: &'static str) {}
    /// A refresh ended: `rotated`, `invalid`, `revoked`, `expired`, `disabled`, `reuse_detected`.
    fn refresh(&self, _outcome: &'static str) {}
    /// A webhook event changed state: `received`, `duplicates`, `processed`, `ignored`,
    /// `retries`, `dead`.
    fn webhook_event(&self, _kind: &'static str, _provider: &str) {}
    /// How long one handler run took.
    fn webhook_handler_seconds(&self, _secs: f64) {}
    /// From receipt to done, retries included.
    fn webhook_total_seconds(&self, _secs: f64) {}
}

/// Reports nothing (CLI commands, domain tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Telemetry for Silent {}
