//! The origin's layering, checked on its source: the domain names no HTTP type, and its modules
//! depend on each other in one direction only (a cycle is how rules start leaking sideways).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn domain_sources() -> BTreeMap<String, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domain");
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read src/domain") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                // A module is its top-level name under domain/ (webhooks/* is `webhooks`).
                let rel = p.strip_prefix(&dir).unwrap();
                let first = rel.iter().next().unwrap().to_string_lossy();
                let module = first.trim_end_matches(".rs").to_owned();
                let text = std::fs::read_to_string(&p).expect("read source");
                out.entry(module)
                    .or_insert_with(String::new)
                    .push_str(&text);
            }
        }
    }
    out
}

#[test]
fn the_domain_names_no_http_type() {
    for (module, text) in domain_sources() {
        for word in ["axum", "StatusCode", "crate::http", "crate::error"] {
            assert!(!text.contains(word), "domain::{module} mentions {word}");
        }
    }
}

#[test]
fn domain_modules_depend_on_each_other_in_one_direction() {
    let sources = domain_sources();
    let names: BTreeSet<&str> = sources
        .keys()
        .map(String::as_str)
        .filter(|m| *m != "mod")
        .collect();
    // `use super::x`, `super::x::…`, `crate::domain::x`, and `use super::{x, y}`.
    let mut deps: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (module, text) in &sources {
        if module == "mod" {
            continue; // the parent declares its children and holds the shared `Core`
        }
        let mut d = BTreeSet::new();
        for prefix in ["super::", "crate::domain::", "use super::{"] {
            for (i, _) in text.match_indices(prefix) {
                let rest = &text[i + prefix.len()..];
                let list = if prefix.ends_with('{') {
                    &rest[..rest.find('}').unwrap_or(0)]
                } else {
                    &rest[..rest
                        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len())]
                };
                for word in list.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
                    if let Some(n) = names.get(word) {
                        if *n != module.as_str() {
                            d.insert(*n);
                        }
                    }
                }
            }
        }
        deps.insert(names.get(module.as_str()).unwrap(), d);
    }
    // Depth-first search for a path back to where it started.
    fn reaches<'a>(
        deps: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        from: &'a str,
        to: &str,
        seen: &mut BTreeSet<&'a str>,
        path: &mut Vec<&'a str>,
    ) -> bool {
        for d in deps.get(from).into_iter().flatten() {
            path.push(d);
            if *d == to || (seen.insert(d) && reaches(deps, d, to, seen, path)) {
                return true;
            }
            path.pop();
        }
        false
    }
    for m in deps.keys() {
        let mut path = vec![*m];
        assert!(
            !reaches(&deps, m, m, &mut BTreeSet::new(), &mut path),
            "import cycle: {}",
            path.join(" -> ")
        );
    }
    // The cycle this layer once had stays broken.
    assert!(deps["accounts"].contains("sessions") && !deps["sessions"].contains("accounts"));
}
