//! The background processor: N worker tasks in the origin process, each claiming one due
//! event at a time under a lease, running its handler, and recording done / ignored / retry
//! (exponential backoff with jitter) / dead.
//!
//! Crash recovery needs no coordinator: a claim is a row update (`locked_until`, `locked_by`,
//! `attempts + 1`) committed before the handler starts. If the process dies mid-handler the row
//! stays `pending`/`retry` with a lease that simply expires; any worker of any instance then
//! claims it again (the dead attempt is logged `abandoned`) and the handler, idempotent on the
//! event id, runs again. Time comes from the service [`Clock`](crate::domain::clock::Clock) so
//! tests move it forward instead of sleeping.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::{claim, finish, Event, Finish};
use crate::config::WebhookSettings;
use crate::domain::ids::{new_id, random_bytes};
use crate::domain::Core;

/// What one [`Processor::run_once`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Ignored,
    /// Failed; due again at this time (ms).
    Retry {
        next_attempt_at: i64,
    },
    Dead,
    /// The handler ran but the lease had expired and another worker owns the event now;
    /// nothing recorded.
    LeaseLost,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    pub row_id: i64,
    pub attempt: i64,
    pub outcome: Outcome,
}

/// Delay before attempt `failed + 1`: `base · 2^(failed-1)` capped at `max`, then "equal
/// jitter" (half fixed, half random) so a burst of failures does not retry in lockstep.
pub fn backoff_ms(s: &WebhookSettings, failed: i64, random: u64) -> i64 {
    let exp = (failed - 1).clamp(0, 40) as u32;
    let d = s
        .backoff_base_ms
        .saturating_mul(1i64 << exp)
        .min(s.backoff_max_ms);
    let half = d / 2;
    half + (random % (d - half + 1) as u64) as i64
}

pub struct Processor {
    core: Arc<Core>,
    name: String,
}

impl Processor {
    pub fn new(core: Arc<Core>, name: impl Into<String>) -> Processor {
        Processor {
            core,
            name: name.into(),
        }
    }

    /// Claims the next due event, if any, and processes it.
    pub async fn run_once(&self) -> Result<Option<Processed>, sqlx::Error> {
        let s = &self.core.config.webhooks;
        let token = new_id("lease");
        let now = self.core.clock.now_ms();
        let Some(ev) = claim(&self.core.db, now, s.lease_secs * 1000, &token).await? else {
            return Ok(None);
        };
        self.process(ev, &token).await.map(Some)
    }

    /// Runs the handler of an event this worker holds the lease `token` for.
    pub async fn process(&self, ev: Event, token: &str) -> Result<Processed, sqlx::Error> {
        let span = tracing::info_span!("webhook", worker = %self.name, provider = %ev.provider,
            event_id = %ev.event_id, event_type = %ev.event_type, attempt = ev.attempt);
        self.process_inner(ev, token).instrument(span).await
    }

    async fn process_inner(&self, ev: Event, token: &str) -> Result<Processed, sqlx::Error> {
        let core = &self.core;
        let s = &core.config.webhooks;
        let m = &core.telemetry;
        let fin = if ev.attempt > s.max_attempts {
            // Only reachable when earlier claims died without recording anything (e.g. a
            // handler that crashes the process): stop instead of crashing forever.
            Finish::Dead {
                error: format!(
                    "gave up after {} attempts whose workers never reported back",
                    ev.attempt - 1
                ),
            }
        } else if let Some(handler) = core.webhook_handlers.get(&ev.provider, &ev.event_type) {
            let started = Instant::now();
            // Own task: a panic is contained; a handler outliving its lease is aborted before
            // another worker can claim the event (90% of the lease).
            let mut task = tokio::spawn(handler(core.clone(), ev.clone()));
            let limit = Duration::from_millis((s.lease_secs as u64 * 1000) * 9 / 10);
            let res = match tokio::time::timeout(limit, &mut task).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => Err(super::handlers::HandlerError::retry(format!(
                    "handler panicked: {e}"
                ))),
                Err(_) => {
                    task.abort();
                    Err(super::handlers::HandlerError::retry(format!(
                        "handler timed out after {} ms",
                        limit.as_millis()
                    )))
                }
            };
            m.webhook_handler_seconds(started.elapsed().as_secs_f64());
            match res {
                Ok(note) => Finish::Done { note },
                Err(e) if !e.retryable => Finish::Dead { error: e.message },
                Err(e) if ev.attempt >= s.max_attempts => Finish::Dead {
                    error: format!(
                        "{} (attempt {} of {})",
                        e.message, ev.attempt, s.max_attempts
                    ),
                },
                Err(e) => {
                    let r = u64::from_le_bytes(random_bytes::<8>());
                    Finish::Retry {
                        error: e.message,
                        next_attempt_at: core.clock.now_ms() + backoff_ms(s, ev.attempt, r),
                    }
                }
            }
        } else {
            Finish::Ignored
        };
        let now = core.clock.now_ms();
        let held = finish(&core.db, now, &ev, token, &fin).await?;
        let outcome = if !held {
            tracing::warn!(
                "lease lost before the result was recorded; another worker owns the event"
            );
            Outcome::LeaseLost
        } else {
            match &fin {
                Finish::Done { .. } => {
                    m.webhook_event("processed", &ev.provider);
                    m.webhook_total_seconds((now - ev.received_at).max(0) as f64 / 1000.0);
                    Outcome::Done
                }
                Finish::Ignored => {
                    m.webhook_event("ignored", &ev.provider);
                    Outcome::Ignored
                }
                Finish::Retry {
                    error,
                    next_attempt_at,
                } => {
                    m.webhook_event("retries", &ev.provider);
                    tracing::warn!(error = %error, next_attempt_at, "webhook handler failed; will retry");
                    Outcome::Retry {
                        next_attempt_at: *next_attempt_at,
                    }
                }
                Finish::Dead { error } => {
                    m.webhook_event("dead", &ev.provider);
                    tracing::error!(error = %error, "webhook event is dead");
                    Outcome::Dead
                }
            }
        };
        if held {
            tracing::info!(outcome = ?outcome, "webhook attempt finished");
        }
        Ok(Processed {
            row_id: ev.row_id,
            attempt: ev.attempt,
            outcome,
        })
    }
}

/// Starts `config.webhooks.workers` tasks; they stop (after their current event) when
/// `shutdown` becomes true.
pub fn spawn(core: Arc<Core>, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    (0..core.config.webhooks.workers)
        .map(|i| {
            let p = Processor::new(core.clone(), format!("worker-{i}"));
            let shutdown = shutdown.clone();
            tokio::spawn(worker_loop(p, shutdown))
        })
        .collect()
}

async fn worker_loop(p: Processor, mut shutdown: watch::Receiver<bool>) {
    let poll = Duration::from_millis(p.core.config.webhooks.poll_ms);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let idle = match p.run_once().await {
            Ok(Some(_)) => false,
            Ok(None) => true,
            Err(e) => {
                tracing::error!(side = "upstream", worker = %p.name, error = %e, "webhook worker: database error");
                true
            }
        };
        if idle {
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = p.core.webhook_wakeup.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_jitters_within_half() {
        let s = WebhookSettings {
            backoff_base_ms: 1000,
            backoff_max_ms: 10_000,
            ..Default::default()
        };
        for (failed, full) in [
            (1, 1000),
            (2, 2000),
            (3, 4000),
            (4, 8000),
            (5, 10_000),
            (60, 10_000),
        ] {
            assert_eq!(backoff_ms(&s, failed, 0), full / 2, "failed {failed}");
            assert_eq!(
                backoff_ms(&s, failed, (full - full / 2) as u64),
                full,
                "failed {failed}"
            );
            for r in [1u64, 77, 12345, u64::MAX] {
                let d = backoff_ms(&s, failed, r);
                assert!((full / 2..=full).contains(&d), "failed {failed}: {d}");
            }
        }
    }
}
