//! What a JSON number's text is worth, read exactly from its digits: whether it is a finite
//! f64 (serde_json and the Rust parser refuse `1e400`, so the scanner must too), and its value
//! rounded down as an integer (a JWT NumericDate). No float parsing: core's `dec2flt` and its
//! power-of-five table were ~16 KB of the Worker for these two questions (docs/PERFORMANCE.md,
//! session 12).

/// The text has passed the scanner's grammar:
/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
#[derive(Debug)]
pub(crate) struct Decimal<'a> {
    negative: bool,
    /// The mantissa's digits, a `.` possibly among them.
    mantissa: &'a [u8],
    /// Where the first and last non-zero digits are in `mantissa` (`None`: the value is zero).
    significant: Option<(usize, usize)>,
    /// The power of ten of the first non-zero digit, saturated far beyond any f64.
    magnitude: i64,
}

/// Exponents beyond this are saturated: every f64 is far inside (±324 decimal orders).
const SATURATE: i64 = 1 << 40;

/// 2^1024 − 2^970: the halfway point between f64::MAX and 2^1024. A decimal at or above it
/// rounds to infinity (ties go to the even significand, 2^1024); any below, to a finite f64.
const OVERFLOW: &[u8; 309] = b"179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792";

impl<'a> Decimal<'a> {
    pub(crate) fn read(text: &'a str) -> Decimal<'a> {
        let bytes = text.as_bytes();
        let negative = bytes.first() == Some(&b'-');
        let body = &bytes[usize::from(negative)..];
        let (mantissa, exponent) = match body.iter().position(|&b| b == b'e' || b == b'E') {
            Some(i) => (&body[..i], &body[i + 1..]),
            None => (body, &b""[..]),
        };
        let exponent = {
            let (sign, digits) = match exponent.first() {
                Some(b'-') => (-1, &exponent[1..]),
                Some(b'+') => (1, &exponent[1..]),
                _ => (1, exponent),
            };
            let n = digits
                .iter()
                .fold(0i64, |n, &d| (n * 10 + i64::from(d - b'0')).min(SATURATE));
            sign * n
        };
        let point = mantissa
            .iter()
            .position(|&b| b == b'.')
            .unwrap_or(mantissa.len());
        let is_digit = |b: &u8| (b'1'..=b'9').contains(b);
        let significant = mantissa
            .iter()
            .position(is_digit)
            .zip(mantissa.iter().rposition(is_digit));
        // Digits between the first significant digit and the point (or after it, negative).
        let magnitude = match significant {
            Some((first, _)) if first < point => (point - first - 1) as i64,
            Some((first, _)) => -((first - point) as i64),
            None => 0,
        };
        Decimal {
            negative,
            mantissa,
            significant,
            magnitude: magnitude + exponent,
        }
    }

    /// The significant digits, first to last non-zero, the point skipped.
    fn digits(&self) -> impl Iterator<Item = u8> + 'a {
        let m = self.mantissa;
        let range = match self.significant {
            Some((first, last)) => first..last + 1,
            None => 0..0,
        };
        m[range].iter().filter(|&&b| b != b'.').map(|&b| b - b'0')
    }

    /// Whether the value parses to a finite f64 (round to nearest, ties to even).
    pub(crate) fn is_finite_f64(&self) -> bool {
        if self.significant.is_none() || self.magnitude < 308 {
            return true;
        }
        if self.magnitude > 308 {
            return false;
        }
        let mut digits = self.digits();
        for &limit in OVERFLOW {
            match digits.next() {
                // Shorter with every digit equal: below the limit (its last digit is non-zero).
                None => return true,
                Some(d) if d != limit - b'0' => return d < limit - b'0',
                Some(_) => {}
            }
        }
        // Equal to the limit, or above it.
        false
    }

    /// The value rounded down, when it is ≥ 0 and below 10^`below_pow10` (≤ 19).
    pub(crate) fn floor_below(&self, below_pow10: u32) -> Option<u64> {
        debug_assert!(below_pow10 <= 19);
        if self.significant.is_none() {
            return Some(0); // 0, -0, 0.000, 0e5
        }
        if self.negative || self.magnitude >= i64::from(below_pow10) {
            return None;
        }
        if self.magnitude < 0 {
            return Some(0);
        }
        let mut n = 0u64;
        let mut power = self.magnitude;
        for d in self.digits() {
            if power < 0 {
                break;
            }
            n = n * 10 + u64::from(d);
            power -= 1;
        }
        // Trailing zeros the significant digits left out.
        for _ in 0..=power {
            n *= 10;
        }
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn finite(t: &str) -> bool {
        Decimal::read(t).is_finite_f64()
    }

    #[test]
    fn the_overflow_limit_is_two_to_the_1024_minus_two_to_the_970() {
        let text = std::str::from_utf8(OVERFLOW).unwrap();
        assert!(text.parse::<f64>().unwrap().is_infinite());
        assert!(!finite(text));
        // One below it, in its last digit: f64::MAX.
        let below = format!("{}1", &text[..308]);
        assert_eq!(below.parse::<f64>().unwrap(), f64::MAX);
        assert!(finite(&below));
    }

    #[test]
    fn finiteness_at_the_edges() {
        for (t, want) in [
            ("0", true),
            ("-0.0e999999999999999999999", true),
            ("1e308", true),
            ("1e309", false),
            ("-1e309", false),
            ("1.7976931348623157e308", true),
            ("1.7976931348623158e308", true),
            ("1.7976931348623159e308", false),
            ("179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791.999999", true),
            ("0.00000000000000000000000000000001797693134862315807937289714053034150799341327100378269361737789804449682927647509466490179775872070963302864166928879109465555478519404026306574886715058206819089020007083836762738548458177115317644757302700698555713669596228429148198608349364752927190741684443655107043427115596995080930428801779041744977920000000e340", false),
            ("1e-400", true),
            ("123456789e300", true),
            ("123456789e301", false),
            ("0.0001e312", true),
            ("1e99999999999999999999999999", false),
            ("1e-99999999999999999999999999", true),
        ] {
            assert_eq!(finite(t), want, "{t}");
            assert_eq!(finite(t), t.parse::<f64>().unwrap().is_finite(), "{t} as Rust reads it");
        }
    }

    #[test]
    fn floors() {
        for (t, want) in [
            ("0", Some(0)),
            ("-0", Some(0)),
            ("-0.0", Some(0)),
            ("1700000000", Some(1_700_000_000)),
            ("1700000000.999", Some(1_700_000_000)),
            ("1.7e9", Some(1_700_000_000)),
            ("17E8", Some(1_700_000_000)),
            ("170000000000e-2", Some(1_700_000_000)),
            ("0.5", Some(0)),
            ("5e-1", Some(0)),
            ("999999999999999.9", Some(999_999_999_999_999)),
            ("1e15", None),
            ("1000000000000000", None),
            ("-1", None),
            ("-0.5", None),
            ("1e999999999999999999999", None),
            ("0.000000000000000000001e21", Some(1)),
        ] {
            assert_eq!(Decimal::read(t).floor_below(15), want, "{t}");
        }
    }

    fn number() -> impl Strategy<Value = String> {
        (
            any::<bool>(),
            "(0|[1-9][0-9]{0,30})",
            proptest::option::of("[0-9]{1,30}"),
            proptest::option::of((
                prop_oneof![Just("e"), Just("E")],
                prop_oneof![Just(""), Just("+"), Just("-")],
                "[0-9]{1,4}",
            )),
        )
            .prop_map(|(neg, int, frac, exp)| {
                let mut s = String::new();
                if neg {
                    s.push('-');
                }
                s.push_str(&int);
                if let Some(f) = frac {
                    s.push('.');
                    s.push_str(&f);
                }
                if let Some((e, sign, digits)) = exp {
                    s.push_str(e);
                    s.push_str(sign);
                    s.push_str(&digits);
                }
                s
            })
    }

    proptest! {
        /// Exactly what Rust's correctly rounded parser says, for any number the grammar takes.
        #[test]
        fn finite_as_rust_parses_it(t in number()) {
            prop_assert_eq!(finite(&t), t.parse::<f64>().unwrap().is_finite());
        }

        /// Near the limit, where it matters: 308–309 orders of magnitude.
        #[test]
        fn finite_near_the_limit(d in r"1\.[0-9]{0,25}", e in 306u32..311) {
            let t = format!("{d}e{e}");
            prop_assert_eq!(finite(&t), t.parse::<f64>().unwrap().is_finite());
        }

        /// The floor of every number an f64 holds exactly enough to tell (≤ 15 significant
        /// digits, below 10^15, and not so small that it underflows: `-1e-400` is a negative
        /// number here, where an f64 reads it as -0).
        #[test]
        fn floor_as_a_float_would(t in number()) {
            let exact = Decimal::read(&t);
            let f: f64 = t.parse().unwrap();
            let digits = exact.digits().count();
            if digits <= 15 && f.abs() < 1e15 && exact.magnitude > -300 {
                let want = if f < 0.0 { None } else { Some(f as u64) };
                prop_assert_eq!(exact.floor_below(15), want, "{}", t);
            }
        }
    }
}
