//! `edge-config-check VARS.json [--assume-secrets] [--pack]`: runs the Worker's own configuration parser
//! (`EdgeConfig::from_lookup`, the code that decides `config_invalid` in workerd) on a set of
//! Worker vars, offline, so a deploy is refused before it uploads a Worker that cannot start.
//!
//! `VARS.json` is one JSON object, name → value (strings as they are, other JSON values as
//! their text, the way wrangler turns `[vars]` into bindings). Secrets are not in wrangler.toml:
//! with `--assume-secrets`, `ENVELOPE_SECRET` and every `WEBHOOK_<ID>` the routes ask for read
//! as well-formed placeholders, and the output lists them as secrets to set.
//! With `--pack`, a valid configuration is also packed (`EdgeConfig::packed`): the value of
//! `EDGE_CONFIG_PACKED` alone is printed on standard output, the summary on standard error. The
//! Worker reads that instead of parsing the JSON variables while they are the ones packed
//! (issue 23: a fresh isolate's first request then compiles none of the JSON parsers).
//! Exit status: 0 valid, 1 invalid (one line per problem, naming the variable), 2 usage.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::process::ExitCode;

use edge_auth::config::{ConfigError, EdgeConfig, PACKED_INPUTS};

/// A well-formed stand-in for a secret the configuration reads: it is checked where it is set
/// (`wrangler secret put`), and never packed.
fn placeholder(name: &str) -> Option<String> {
    if name == "ENVELOPE_SECRET" {
        return Some("ab".repeat(32));
    }
    // Shaped like a real Standard Webhooks secret: the routes are what is being checked.
    if name.starts_with("WEBHOOK_") {
        return Some(r#"{"provider": "standard", "secrets": ["whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="]}"#.to_owned());
    }
    // Any other name outside the plain variables is one an issuer's `jwks_secret` names.
    (!PACKED_INPUTS.contains(&name)).then(|| {
        r#"{"keys": [{"kty": "oct", "k": "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr8"}]}"#
            .to_owned()
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let assume = args.iter().any(|a| a == "--assume-secrets");
    let pack = args.iter().any(|a| a == "--pack");
    if let Some(unknown) = args
        .iter()
        .find(|a| a.starts_with("--") && !matches!(a.as_str(), "--assume-secrets" | "--pack"))
    {
        eprintln!("edge-config-check: unknown option {unknown}");
        eprintln!("usage: edge-config-check VARS.json [--assume-secrets] [--pack]");
        return ExitCode::from(2);
    }
    let Some(path) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: edge-config-check VARS.json [--assume-secrets] [--pack]");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("edge-config-check: cannot read {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let vars: BTreeMap<String, String> = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(m)) => m
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect(),
        _ => {
            eprintln!("edge-config-check: {path} is not a JSON object of variables");
            return ExitCode::from(2);
        }
    };
    let assumed = RefCell::new(std::collections::BTreeSet::new());
    let lookup = |name: &str| -> Option<String> {
        if let Some(v) = vars.get(name) {
            return Some(v.clone());
        }
        let p = if assume { placeholder(name) } else { None };
        if p.is_some() {
            assumed.borrow_mut().insert(name.to_owned());
        }
        p
    };
    let result = EdgeConfig::from_lookup(&lookup).and_then(|c| {
        // The Worker parses a webhook's secret on its route's first delivery; checked here now.
        let webhook_problems = c.webhooks.problems();
        if !webhook_problems.is_empty() {
            return Err(ConfigError(webhook_problems));
        }
        let packed = if pack {
            Some(EdgeConfig::packed(&lookup)?)
        } else {
            None
        };
        Ok((c, packed))
    });
    match result {
        Ok((c, packed)) => {
            // With --pack, stdout is the value alone (for `wrangler deploy --var`).
            let say = |line: String| {
                if pack {
                    eprintln!("{line}")
                } else {
                    println!("{line}")
                }
            };
            say(format!(
                "configuration ok: {:?}, origin {}, {} issuer(s), {} route rule(s), {} webhook(s)",
                c.deploy_env,
                c.origin_url,
                c.issuers.len(),
                c.routes.rules().len(),
                c.webhooks.len()
            ));
            let secrets = assumed.borrow();
            if !secrets.is_empty() {
                let list: Vec<&str> = secrets.iter().map(String::as_str).collect();
                say(format!(
                    "secrets it reads (wrangler secret put NAME): {}",
                    list.join(", ")
                ));
            }
            if let Some(packed) = packed {
                say(format!(
                    "packed: {} characters (EDGE_CONFIG_PACKED; Cloudflare allows 5 KB per variable)",
                    packed.len()
                ));
                println!("{packed}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            for p in &e.0 {
                println!("{}: {}", p.variable, p.problem);
            }
            ExitCode::from(1)
        }
    }
}
