//! A per-second gate for log lines that come in floods: per key (a route rule, or a dependency
//! and a rule), at most `per_second` lines in each wall-clock second; the others are counted,
//! and when the first request of a later second arrives, one summary line per key reports how
//! many were held back. Nothing is dropped without being counted. Used for `rate_limited`
//! denials ([`super::denial_log`]) and dependency failures ([`super::failure`]).

use crate::time::UnixMillis;

#[derive(Debug)]
pub(crate) struct LogGate<K> {
    /// 0: no limit (every line is written, nothing is counted).
    per_second: u32,
    second: u64,
    /// Per key seen this second: lines written, lines suppressed. Keys are few (configured
    /// rules, times four dependencies), so a vector is the map.
    keys: Vec<(K, u32, u64)>,
}

impl<K> LogGate<K> {
    pub(crate) fn new(per_second: u32) -> LogGate<K> {
        LogGate {
            per_second,
            second: 0,
            keys: Vec::new(),
        }
    }

    /// Whether the line for the key that `is_key` recognises gets written at `now`; if not, it
    /// is counted. `new_key` makes the key the first time it is seen in a second (so a known key
    /// costs no allocation). Also hands back, through `summary`, the lines of a second that is over.
    pub(crate) fn admit(
        &mut self,
        now: UnixMillis,
        is_key: impl Fn(&K) -> bool,
        new_key: impl FnOnce() -> K,
        out: &mut Vec<String>,
        summary: impl Fn(&K, u64, u64) -> String,
    ) -> bool {
        if self.per_second == 0 {
            return true;
        }
        self.roll(now, out, summary);
        match self.keys.iter_mut().find(|(k, _, _)| is_key(k)) {
            Some((_, written, suppressed)) => {
                if *written < self.per_second {
                    *written += 1;
                    true
                } else {
                    *suppressed += 1;
                    false
                }
            }
            None => {
                self.keys.push((new_key(), 1, 0));
                true
            }
        }
    }

    /// When `now` is past the second being counted: `summary(key, count, second_start_ms)` for
    /// each key with a non-zero count, and a fresh second. One comparison when nothing is pending.
    pub(crate) fn roll(
        &mut self,
        now: UnixMillis,
        out: &mut Vec<String>,
        summary: impl Fn(&K, u64, u64) -> String,
    ) {
        let second = now.0 / 1000;
        if second == self.second {
            return;
        }
        for (key, _, suppressed) in self.keys.drain(..) {
            if suppressed > 0 {
                out.push(summary(&key, suppressed, self.second * 1000));
            }
        }
        self.second = second;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(key: &&'static str, n: u64, start: u64) -> String {
        format!("{key} {n} {start}")
    }

    #[test]
    fn the_allowance_is_per_key_and_per_second_and_the_rest_is_counted_once() {
        let mut gate: LogGate<&'static str> = LogGate::new(2);
        let mut out = Vec::new();
        let admit = |gate: &mut LogGate<_>, key: &'static str, ms, out: &mut Vec<String>| {
            gate.admit(UnixMillis(ms), |k| *k == key, || key, out, count)
        };
        let a: Vec<bool> = (0..4)
            .map(|i| admit(&mut gate, "a", 7_000 + i, &mut out))
            .collect();
        assert_eq!(a, [true, true, false, false]);
        assert!(admit(&mut gate, "b", 7_500, &mut out));
        assert!(out.is_empty());
        assert!(admit(&mut gate, "a", 9_001, &mut out));
        assert_eq!(out, ["a 2 7000"], "b had nothing held back");
        gate.roll(UnixMillis(10_000), &mut out, count);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn zero_means_every_line_and_no_counting() {
        let mut gate: LogGate<&'static str> = LogGate::new(0);
        let mut out = Vec::new();
        for i in 0..100 {
            assert!(gate.admit(UnixMillis(i), |k| *k == "a", || "a", &mut out, count));
        }
        gate.roll(UnixMillis(5_000), &mut out, count);
        assert!(out.is_empty());
    }
}
