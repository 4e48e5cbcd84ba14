//! The Generic Cell Rate Algorithm as a pure function of (stored TAT, quota, now, cost).

use core::fmt;

use crate::time::UnixMillis;

const NS_PER_MS: u64 = 1_000_000;
/// Longest accepted period: one year (keeps every nanosecond sum far from `u64::MAX`).
pub(crate) const MAX_PERIOD_MS: u64 = 366 * 24 * 3600 * 1000;

/// `limit` units per `period_ms`, all of which may be spent at once (the burst).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Quota {
    /// Units per period; also the largest burst.
    pub limit: u32,
    pub period_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum QuotaError {
    LimitZero,
    PeriodZero,
    PeriodTooLong {
        max_ms: u64,
    },
    /// `period / limit` is below 1 µs: more than a million units per second.
    RateTooHigh,
}

impl fmt::Display for QuotaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuotaError::LimitZero => f.write_str("limit must be at least 1"),
            QuotaError::PeriodZero => f.write_str("period must be at least 1 ms"),
            QuotaError::PeriodTooLong { max_ms } => {
                write!(f, "period must be at most {max_ms} ms")
            }
            QuotaError::RateTooHigh => f.write_str("limit/period exceeds one unit per microsecond"),
        }
    }
}

impl std::error::Error for QuotaError {}

impl Quota {
    /// A checked quota.
    pub fn new(limit: u32, period_ms: u64) -> Result<Self, QuotaError> {
        let q = Quota { limit, period_ms };
        q.validate()?;
        Ok(q)
    }

    pub fn per_second(limit: u32) -> Result<Self, QuotaError> {
        Self::new(limit, 1_000)
    }

    pub fn per_minute(limit: u32) -> Result<Self, QuotaError> {
        Self::new(limit, 60_000)
    }

    /// `check` stays total for any value, but is only exact for a validated quota: an emission
    /// interval of ≥ 1 µs guarantees `(limit + 1)` intervals exceed the period, so the request
    /// after a full burst is refused.
    pub fn validate(&self) -> Result<(), QuotaError> {
        if self.limit == 0 {
            return Err(QuotaError::LimitZero);
        }
        if self.period_ms == 0 {
            return Err(QuotaError::PeriodZero);
        }
        if self.period_ms > MAX_PERIOD_MS {
            return Err(QuotaError::PeriodTooLong {
                max_ms: MAX_PERIOD_MS,
            });
        }
        if self.emission_interval_ns() < 1_000 {
            return Err(QuotaError::RateTooHigh);
        }
        Ok(())
    }

    /// Time for one unit to come back, in nanoseconds (rounded down).
    pub fn emission_interval_ns(&self) -> u64 {
        self.period_ns() / u64::from(self.limit.max(1))
    }

    fn period_ns(&self) -> u64 {
        self.period_ms.min(MAX_PERIOD_MS) * NS_PER_MS
    }
}

/// The answer of [`check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Allowed {
        /// The TAT to store for this key (nanoseconds since the epoch).
        new_tat: u64,
        /// Units that could still be spent right now.
        remaining: u32,
        /// Until the quota is whole again (every unit back).
        reset_after_ms: u64,
    },
    Limited {
        /// Until this request (with the same cost) would be admitted.
        retry_after_ms: u64,
        /// Until the quota is whole again; the stored TAT is unchanged.
        reset_after_ms: u64,
    },
}

impl Outcome {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Outcome::Allowed { .. })
    }
    pub fn remaining(&self) -> u32 {
        match *self {
            Outcome::Allowed { remaining, .. } => remaining,
            Outcome::Limited { .. } => 0,
        }
    }
    pub fn reset_after_ms(&self) -> u64 {
        match *self {
            Outcome::Allowed { reset_after_ms, .. } | Outcome::Limited { reset_after_ms, .. } => {
                reset_after_ms
            }
        }
    }
    pub fn retry_after_ms(&self) -> Option<u64> {
        match *self {
            Outcome::Allowed { .. } => None,
            Outcome::Limited { retry_after_ms, .. } => Some(retry_after_ms),
        }
    }
}

fn ceil_ms(ns: u64) -> u64 {
    ns.div_ceil(NS_PER_MS)
}

/// GCRA: may `cost` units be spent at `now`, given the key's stored TAT (`None` = never seen)?
///
/// With emission interval `T = period / limit`: `tat' = max(tat, now) + cost·T`; admitted iff
/// `tat' − now ≤ period`. A `cost` of 0 only reports the state. A `cost` above `limit` can never
/// be admitted and is answered `Limited` with `retry_after_ms = period_ms`.
pub fn check(tat: Option<u64>, quota: Quota, now: UnixMillis, cost: u32) -> Outcome {
    let period = quota.period_ns();
    let now_ns = now.0.saturating_mul(NS_PER_MS);
    let tat = tat.unwrap_or(0).max(now_ns);
    let reset_now = ceil_ms(tat - now_ns);
    if quota.limit == 0 || period == 0 || cost > quota.limit {
        return Outcome::Limited {
            retry_after_ms: quota.period_ms.max(1),
            reset_after_ms: reset_now,
        };
    }
    let t = quota.emission_interval_ns().max(1);
    let new_tat = tat.saturating_add(u64::from(cost) * t);
    let allow_at = new_tat.saturating_sub(period);
    if now_ns < allow_at {
        return Outcome::Limited {
            retry_after_ms: ceil_ms(allow_at - now_ns),
            reset_after_ms: reset_now,
        };
    }
    let used = new_tat - now_ns; // ≤ period here
    let remaining = ((period - used) / t).min(u64::from(quota.limit)) as u32;
    Outcome::Allowed {
        new_tat,
        remaining,
        reset_after_ms: ceil_ms(used),
    }
}
