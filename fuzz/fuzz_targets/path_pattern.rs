//! Route patterns (src/policy.rs, `PathPattern`): parsing and matching, differential against a
//! reference matcher written here from the documented grammar (literal segments, `*` or
//! `{name}` for one non-empty segment, a final `**` for any rest). Properties: a pattern reads
//! back as itself; the two matchers agree on every path; a wildcard-free pattern matches its
//! own text; a pattern's instances (wildcards filled in) match it.
#![no_main]

use edge_auth::policy::PathPattern;
use edge_auth_fuzz::{fields, text};
use libfuzzer_sys::fuzz_target;

fn segments(s: &str) -> Option<Vec<&str>> {
    let body = s.strip_prefix('/')?;
    Some(if body.is_empty() {
        Vec::new()
    } else {
        body.split('/').collect()
    })
}

fn one(seg: &str) -> bool {
    seg == "*" || (seg.len() > 2 && seg.starts_with('{') && seg.ends_with('}'))
}

/// The reference: pattern segments against path segments, one by one.
fn reference(pattern: &str, path: &str) -> bool {
    let (Some(p), Some(q)) = (segments(pattern), segments(path)) else {
        return false;
    };
    let mut q = q.into_iter();
    for (i, seg) in p.iter().enumerate() {
        if *seg == "**" && i + 1 == p.len() {
            return true;
        }
        match q.next() {
            Some(got) if one(seg) => {
                if got.is_empty() {
                    return false;
                }
            }
            Some(got) if got == *seg => {}
            _ => return false,
        }
    }
    q.next().is_none()
}

/// A path the pattern should match: each one-segment wildcard filled with `fill`, a final `**`
/// with `rest` (which may be empty or hold slashes).
fn instance(pattern: &str, fill: &str, rest: &str) -> String {
    let segs = segments(pattern).unwrap();
    let mut out = String::new();
    for (i, seg) in segs.iter().enumerate() {
        if *seg == "**" && i + 1 == segs.len() {
            out.push('/');
            out.push_str(rest);
            return out;
        }
        out.push('/');
        out.push_str(if one(seg) { fill } else { seg });
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

fuzz_target!(|data: &[u8]| {
    // pattern LF path LF fill
    let f = fields(data, b'\n', 3);
    let (raw, path, fill) = (text(f[0]), text(f[1]), text(f[2]));
    let Ok(pattern) = PathPattern::parse(&raw) else {
        return;
    };
    assert_eq!(pattern.as_str(), raw, "a pattern reads back as itself");
    assert_eq!(PathPattern::parse(pattern.as_str()).as_ref(), Ok(&pattern));
    assert_eq!(
        pattern.matches(&path),
        reference(&raw, &path),
        "matchers disagree on {path:?}"
    );
    if !raw.contains(['*', '{', '}']) {
        assert!(
            pattern.matches(&raw),
            "a literal pattern matches its own text"
        );
    }
    let fill: String = fill.chars().filter(|&c| c != '/').collect();
    if !fill.is_empty() {
        let p = instance(&raw, &fill, &path);
        assert!(
            pattern.matches(&p),
            "{raw:?} does not match its instance {p:?}"
        );
    }
});
