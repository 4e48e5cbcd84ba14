//! The `durable` rate-limit backend (placeholder until the Durable Object lands): reports
//! itself unavailable, so rules fall back to this isolate's count (and say so in the log).

use crate::ratelimit::{Outcome, Quota, RateKey};

pub(crate) async fn check_durable(
    _env: &worker::Env,
    _key: &RateKey,
    _quota: Quota,
    _cost: u32,
) -> Result<Outcome, worker::Error> {
    Err(worker::Error::RustError(
        "durable rate limiter not deployed yet".into(),
    ))
}
