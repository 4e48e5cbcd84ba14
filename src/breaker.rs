//! The per-isolate circuit breaker toward the origin: closed → open (after N consecutive failures
//! or a failure ratio over a rolling window) → half-open after a cool-down (K probes) → closed, or
//! open again on a probe failure. Transitions are returned so the adapter can log them.

use core::fmt;

use crate::time::UnixMillis;

const BUCKETS: usize = 10;

/// Thresholds and timings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Open after this many failures in a row (0 disables the rule).
    pub consecutive_failures: u32,
    /// Open when failures are at least this percentage of the calls in the window (0 disables).
    pub failure_ratio_percent: u8,
    /// The rolling window for the ratio, in ms (kept in 10 buckets).
    pub window_ms: u64,
    /// The ratio only counts once the window holds this many calls.
    pub min_requests: u32,
    /// How long the breaker stays open before letting probes through.
    pub cool_down_ms: u64,
    /// Calls let through while half-open; all of them must succeed to close.
    pub half_open_probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            consecutive_failures: 5,
            failure_ratio_percent: 50,
            window_ms: 10_000,
            min_requests: 20,
            cool_down_ms: 5_000,
            half_open_probes: 3,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn id(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// Why the state changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransitionCause {
    ConsecutiveFailures { failures: u32 },
    FailureRatio { failures: u32, calls: u32 },
    CoolDownElapsed,
    ProbesSucceeded { probes: u32 },
    ProbeFailed,
}

impl fmt::Display for TransitionCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransitionCause::ConsecutiveFailures { failures } => {
                write!(f, "{failures} consecutive failures")
            }
            TransitionCause::FailureRatio { failures, calls } => {
                write!(f, "{failures} of {calls} calls failed in the window")
            }
            TransitionCause::CoolDownElapsed => f.write_str("cool-down elapsed"),
            TransitionCause::ProbesSucceeded { probes } => write!(f, "{probes} probes succeeded"),
            TransitionCause::ProbeFailed => f.write_str("a probe failed"),
        }
    }
}

/// A state change, to be logged by the adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub from: BreakerState,
    pub to: BreakerState,
    pub cause: TransitionCause,
    pub at: UnixMillis,
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "origin circuit {} -> {}: {}",
            self.from.id(),
            self.to.id(),
            self.cause
        )
    }
}

/// Which call a result belongs to (from [`Admission::Permit`], handed back to
/// [`Breaker::on_result`]): a probe of a half-open round, or an ordinary call. While half-open,
/// only the results of that round's probes count: a slow call let through before the breaker
/// opened must not close it before the probes answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Call {
    probe_of_round: Option<u32>,
}

impl Call {
    /// An ordinary call (admitted while closed).
    pub const ORDINARY: Call = Call {
        probe_of_round: None,
    };

    /// A compact text form, for drivers that carry it across an await as a string.
    pub fn encode(self) -> String {
        self.probe_of_round
            .map_or_else(|| "-".into(), |r| crate::text::decimal_string(r.into()))
    }

    /// The inverse of [`Call::encode`]; anything else reads as an ordinary call.
    pub fn decode(s: &str) -> Call {
        Call {
            probe_of_round: s.parse().ok(),
        }
    }
}

/// The answer of [`Breaker::before_call`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Call the origin, then report with [`Breaker::on_result`] and this `call`.
    Permit {
        /// This call is one of the half-open probes.
        probe: bool,
        /// Set when this call moved the breaker from open to half-open.
        transition: Option<Transition>,
        call: Call,
    },
    /// Do not call: answer 503 `origin_unavailable` with `Retry-After`.
    Rejected { retry_after_ms: u64 },
}

#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    index: u64,
    calls: u32,
    failures: u32,
}

#[derive(Clone, Copy, Debug)]
enum Inner {
    Closed,
    Open { until: UnixMillis },
    HalfOpen { admitted: u32, succeeded: u32 },
}

#[derive(Clone, Debug)]
pub struct Breaker {
    config: BreakerConfig,
    inner: Inner,
    consecutive: u32,
    buckets: [Bucket; BUCKETS],
    /// How many times the breaker went half-open (tags that round's probes).
    round: u32,
}

impl Breaker {
    pub fn new(config: BreakerConfig) -> Self {
        Breaker {
            config,
            inner: Inner::Closed,
            consecutive: 0,
            buckets: [Bucket::default(); BUCKETS],
            round: 0,
        }
    }

    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    pub fn state(&self) -> BreakerState {
        match self.inner {
            Inner::Closed => BreakerState::Closed,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// May a call go to the origin now?
    pub fn before_call(&mut self, now: UnixMillis) -> Admission {
        match self.inner {
            Inner::Closed => Admission::Permit {
                probe: false,
                transition: None,
                call: Call::ORDINARY,
            },
            Inner::Open { until } if now < until => Admission::Rejected {
                retry_after_ms: until.millis_since(now),
            },
            Inner::Open { .. } => {
                self.round = self.round.wrapping_add(1);
                let t = self.enter(
                    now,
                    Inner::HalfOpen {
                        admitted: 1,
                        succeeded: 0,
                    },
                    TransitionCause::CoolDownElapsed,
                );
                Admission::Permit {
                    probe: true,
                    transition: Some(t),
                    call: self.probe_call(),
                }
            }
            Inner::HalfOpen {
                admitted,
                succeeded,
            } => {
                if admitted < self.config.half_open_probes.max(1) {
                    self.inner = Inner::HalfOpen {
                        admitted: admitted + 1,
                        succeeded,
                    };
                    Admission::Permit {
                        probe: true,
                        transition: None,
                        call: self.probe_call(),
                    }
                } else {
                    // Probes are out; their answers decide within one origin timeout.
                    Admission::Rejected {
                        retry_after_ms: self.config.cool_down_ms.max(1),
                    }
                }
            }
        }
    }

    fn probe_call(&self) -> Call {
        Call {
            probe_of_round: Some(self.round),
        }
    }

    /// Reports how the permitted `call` ended (`success = false` for 5xx, timeouts, connection
    /// errors).
    pub fn on_result(&mut self, now: UnixMillis, call: Call, success: bool) -> Option<Transition> {
        match self.inner {
            // A call started before the breaker opened: its result changes nothing now.
            Inner::Open { .. } => None,
            // Half-open: only this round's probes decide.
            Inner::HalfOpen { .. } if call.probe_of_round != Some(self.round) => None,
            Inner::HalfOpen {
                admitted,
                succeeded,
            } => {
                if !success {
                    return Some(self.open(now, TransitionCause::ProbeFailed));
                }
                let succeeded = succeeded + 1;
                let probes = self.config.half_open_probes.max(1);
                if succeeded >= probes {
                    Some(self.enter(
                        now,
                        Inner::Closed,
                        TransitionCause::ProbesSucceeded { probes },
                    ))
                } else {
                    self.inner = Inner::HalfOpen {
                        admitted,
                        succeeded,
                    };
                    None
                }
            }
            Inner::Closed => {
                self.record(now, success);
                if success {
                    self.consecutive = 0;
                    return None;
                }
                self.consecutive += 1;
                let n = self.config.consecutive_failures;
                if n > 0 && self.consecutive >= n {
                    let failures = self.consecutive;
                    return Some(self.open(now, TransitionCause::ConsecutiveFailures { failures }));
                }
                let (calls, failures) = self.window(now);
                let pct = u64::from(self.config.failure_ratio_percent);
                if pct > 0
                    && calls >= self.config.min_requests.max(1)
                    && u64::from(failures) * 100 >= pct * u64::from(calls)
                {
                    return Some(self.open(now, TransitionCause::FailureRatio { failures, calls }));
                }
                None
            }
        }
    }

    fn open(&mut self, now: UnixMillis, cause: TransitionCause) -> Transition {
        let until = now.plus_millis(self.config.cool_down_ms);
        self.enter(now, Inner::Open { until }, cause)
    }

    fn enter(&mut self, now: UnixMillis, to: Inner, cause: TransitionCause) -> Transition {
        let from = self.state();
        self.inner = to;
        // Each state starts counting afresh.
        self.consecutive = 0;
        self.buckets = [Bucket::default(); BUCKETS];
        Transition {
            from,
            to: self.state(),
            cause,
            at: now,
        }
    }

    fn bucket_ms(&self) -> u64 {
        (self.config.window_ms / BUCKETS as u64).max(1)
    }

    fn record(&mut self, now: UnixMillis, success: bool) {
        let index = now.0 / self.bucket_ms();
        let b = &mut self.buckets[(index % BUCKETS as u64) as usize];
        if b.index != index {
            *b = Bucket {
                index,
                calls: 0,
                failures: 0,
            };
        }
        b.calls += 1;
        if !success {
            b.failures += 1;
        }
    }

    /// (calls, failures) over the buckets still inside the window.
    fn window(&self, now: UnixMillis) -> (u32, u32) {
        let current = now.0 / self.bucket_ms();
        self.buckets
            .iter()
            .filter(|b| b.calls > 0 && current.saturating_sub(b.index) < BUCKETS as u64)
            .fold((0, 0), |(c, f), b| (c + b.calls, f + b.failures))
    }
}
