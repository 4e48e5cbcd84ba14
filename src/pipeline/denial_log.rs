//! How many `rate_limited` denial lines an isolate writes. A 429 is the edge working as
//! configured, and it comes in floods: one `console.log` per refused request is a fifth of the
//! CPU a 429 costs in workerd (docs/PERFORMANCE.md) and a log bill that grows with the attack.
//! So per route rule, at most `RATE_LIMITED_LOG_PER_SECOND` lines are written in each wall-clock
//! second; the rest are counted, and one `denials_suppressed` line per rule reports the count
//! when the next request after that second arrives. Nothing is dropped without being counted.
//! Every other denial is logged one line per request, always.

use super::log_gate::LogGate;
use crate::json::write::Object;
use crate::time::UnixMillis;

/// The `rate_limited` lines allowed and the counts kept for the current second, per rule id.
#[derive(Debug)]
pub struct DenialLog(LogGate<String>);

impl Default for DenialLog {
    fn default() -> DenialLog {
        DenialLog::new(0)
    }
}

impl DenialLog {
    /// `per_second` 0: no limit (every 429 gets its line).
    pub fn new(per_second: u32) -> DenialLog {
        DenialLog(LogGate::new(per_second))
    }

    /// Whether the 429 of `rule` at `now` gets its own line; if not, it is counted. Also
    /// hands back the summary lines of a second that is over (see [`DenialLog::roll`]).
    pub fn admit(&mut self, rule: &str, now: UnixMillis, out: &mut Vec<String>) -> bool {
        self.0
            .admit(now, |r| r == rule, || rule.to_owned(), out, summary)
    }

    /// When `now` is past the second being counted: one `denials_suppressed` line per rule
    /// with a non-zero count, and a fresh second. Cheap when nothing is pending.
    pub fn roll(&mut self, now: UnixMillis, out: &mut Vec<String>) {
        self.0.roll(now, out, summary);
    }
}

// `&String`: LogGate<String> hands its key by reference.
#[allow(clippy::ptr_arg)]
fn summary(rule: &String, count: u64, second_start_ms: u64) -> String {
    Object::new()
        .num("count", count)
        .str("event", "denials_suppressed")
        .str("reason", "rate_limited")
        .str("rule", rule)
        .num("second_start_ms", second_start_ms)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> UnixMillis {
        UnixMillis(ms)
    }

    #[test]
    fn at_most_the_limit_per_rule_per_second_and_every_other_one_counted() {
        let mut log = DenialLog::new(2);
        let mut out = Vec::new();
        let written: Vec<bool> = (0..5)
            .map(|i| log.admit("api", at(10_000 + i), &mut out))
            .collect();
        assert_eq!(written, [true, true, false, false, false]);
        // Another rule has its own allowance.
        assert!(log.admit("login", at(10_500), &mut out));
        assert!(out.is_empty(), "nothing reported while the second runs");
        // The next second: the count of the one before, then a fresh allowance.
        assert!(log.admit("api", at(11_000), &mut out));
        assert_eq!(
            out.len(),
            1,
            "one line, for the rule that had suppressed lines: {out:?}"
        );
        let line: serde_json::Value = serde_json::from_str(&out[0]).unwrap();
        assert_eq!(line["event"], "denials_suppressed");
        assert_eq!(line["rule"], "api");
        assert_eq!(line["count"], 3);
        assert_eq!(line["second_start_ms"], 10_000);
    }

    #[test]
    fn a_quiet_rule_is_reported_by_any_later_request() {
        let mut log = DenialLog::new(1);
        let mut out = Vec::new();
        for i in 0..4 {
            log.admit("api", at(5_000 + i), &mut out);
        }
        log.roll(at(5_999), &mut out);
        assert!(out.is_empty());
        log.roll(at(9_000), &mut out); // a request of any kind, seconds later
        assert_eq!(out.len(), 1);
        assert!(out[0].contains("\"count\":3"), "{}", out[0]);
        log.roll(at(9_500), &mut out);
        assert_eq!(out.len(), 1, "reported once");
    }

    #[test]
    fn zero_means_every_denial_is_logged() {
        let mut log = DenialLog::new(0);
        let mut out = Vec::new();
        assert!((0..100).all(|i| log.admit("api", at(i), &mut out)));
        log.roll(at(60_000), &mut out);
        assert!(out.is_empty());
    }
}
