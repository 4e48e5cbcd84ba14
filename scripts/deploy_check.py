"""Offline checks of one wrangler environment before `wrangler deploy --env NAME`.

Run by scripts/deploy-check.sh after `wrangler deploy --dry-run --outdir`: reads wrangler.toml
(tomllib), the bundle wrangler wrote, and runs the Worker's own configuration parser
(target/*/edge-config-check) on the environment's vars. Every failure names the environment,
the setting and what to do; the exit status is the number of problems (capped at 100).
"""
import argparse
import gzip
import json
import pathlib
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
# What Cloudflare accepts for one Worker upload, gzip (paid plans; the free plan allows 3 MiB).
UPLOAD_LIMIT = 10 * 1024 * 1024
FREE_PLAN_LIMIT = 3 * 1024 * 1024
# The most one Worker variable may hold (Cloudflare's limit: 5 KB).
VAR_LIMIT = 5 * 1024
# This project's own budget (README "Benchmarks").
BUDGET = 250 * 1000
# Vars an environment sets for itself; every other var must equal the top level's.
PER_ENV_VARS = {"DEPLOY_ENV", "ORIGIN_URL", "ISSUERS"}
# Bindings wrangler does not inherit into an environment (they must be repeated).
NON_INHERITED = ("durable_objects", "ratelimits")


class Report:
    def __init__(self, env):
        self.env, self.problems = env, []

    def fail(self, what, fix):
        self.problems.append(f"env.{self.env}: {what} — {fix}")

    def ok(self, what):
        print(f"    ok: {what}")


def load_config(path):
    return tomllib.loads(path.read_text())


def check_environment(cfg, env, overrides, r):
    envs = cfg.get("env", {})
    if env not in envs:
        r.fail("is not defined in wrangler.toml", f"add [env.{env}] (copy [env.production])")
        return None
    e = envs[env]
    top_vars, env_vars = cfg.get("vars", {}), dict(e.get("vars", {}))
    env_vars.update(overrides)
    for name in sorted(set(top_vars) | set(env_vars)):
        if name in PER_ENV_VARS:
            continue
        if name not in env_vars:
            r.fail(f"var {name} is missing", f"copy it from the top-level [vars] into [env.{env}.vars]")
        elif name not in top_vars:
            r.fail(f"var {name} is only set here", "set it in the top-level [vars] too, or drop it (one source)")
        elif env_vars[name] != top_vars[name]:
            r.fail(f"var {name} differs from the top level", "keep [vars] and the environment in step")
    if env_vars.get("DEPLOY_ENV") != "production":
        r.fail("DEPLOY_ENV is not \"production\"", "a deployed Worker must refuse loopback and plain-http URLs")
    for key in NON_INHERITED:
        if e.get(key) != cfg.get(key):
            r.fail(f"{key} differ from the top level", f"repeat the top-level {key} under [env.{env}]")
    if not r.problems:
        r.ok(f"vars and bindings of env.{env} match the top level (per-environment: {', '.join(sorted(PER_ENV_VARS))})")
    return env_vars


def check_bindings(cfg, env_vars, r):
    """The Durable Object class is migrated, every binding a rule names exists."""
    classes = {b["class_name"] for b in cfg.get("durable_objects", {}).get("bindings", [])}
    migrated = set()
    for m in cfg.get("migrations", []):
        migrated |= set(m.get("new_sqlite_classes", [])) | set(m.get("new_classes", []))
        migrated -= set(m.get("deleted_classes", []))
    for c in sorted(classes - migrated):
        r.fail(f"Durable Object class {c} has no migration", f'add [[migrations]] with new_sqlite_classes = ["{c}"]')
    limits = {b["name"]: b for b in cfg.get("ratelimits", [])}
    for name, b in limits.items():
        period = b.get("simple", {}).get("period")
        if period not in (10, 60):
            r.fail(f"rate-limit binding {name} has period {period}", "the Workers Rate Limiting binding allows 10 or 60 s")
    rules = json.loads(env_vars["RATE_LIMITS"]) if "RATE_LIMITS" in env_vars else []
    for rule in rules:
        if rule.get("backend") == "binding":
            name = rule.get("binding", "RL_API")
            if name not in limits:
                r.fail(f"RATE_LIMITS rule {rule.get('id')} uses binding {name}", "declare it under [[ratelimits]]")
            elif limits[name]["simple"]["limit"] != rule.get("limit") or limits[name]["simple"]["period"] != rule.get("period_secs"):
                r.fail(f"RATE_LIMITS rule {rule.get('id')} disagrees with binding {name}", "the binding's limit/period are what Cloudflare enforces")
    if classes:
        r.ok(f"Durable Object classes migrated: {', '.join(sorted(classes))}; rate-limit bindings: {', '.join(limits) or 'none'}")
    return classes


def check_bundle(outdir, classes, r):
    js = outdir / "index.js"
    wasm = sorted(outdir.glob("*.wasm"))
    if not js.is_file() or len(wasm) != 1:
        r.fail(f"the bundle in {outdir} is incomplete", "run wrangler deploy --dry-run --outdir again and read its errors")
        return
    wasm = wasm[0]
    if wasm.read_bytes()[:4] != b"\0asm":
        r.fail(f"{wasm.name} is not WebAssembly", "rebuild with scripts/build.sh")
    text = js.read_text()
    if wasm.name not in text:
        r.fail(f"index.js does not import {wasm.name}", "the bundle and the module it loads disagree")
    for c in sorted(classes):
        if f"class {c}" not in text and f"{c} as" not in text and f"as {c}" not in text:
            r.fail(f"the bundle exports no class {c}", "the Durable Object binding would fail at deploy")
    size = len(gzip.compress(js.read_bytes(), 9)) + len(gzip.compress(wasm.read_bytes(), 9))
    if size > UPLOAD_LIMIT:
        r.fail(f"upload is {size} bytes gzip", f"Cloudflare's limit is {UPLOAD_LIMIT}")
    r.ok(f"bundle: index.js + {wasm.name}, {size / 1000:.1f} KB gzip (Cloudflare: {UPLOAD_LIMIT // 2**20} MiB paid, "
         f"{FREE_PLAN_LIMIT // 2**20} MiB free; this project's budget {BUDGET // 1000} KB: "
         f"{'within' if size <= BUDGET else 'OVER'})")


def check_vars(env_vars, r, tmp):
    exe = next((p for p in (ROOT / "target/release/edge-config-check", ROOT / "target/debug/edge-config-check") if p.is_file()), None)
    if exe is None:
        r.fail("edge-config-check is not built", "cargo build --release --bin edge-config-check")
        return
    vars_file = tmp / "vars.json"
    vars_file.write_text(json.dumps(env_vars))
    out = subprocess.run([str(exe), str(vars_file), "--assume-secrets", "--pack"], capture_output=True, text=True)
    if out.returncode != 0:
        for line in out.stdout.splitlines() or [out.stderr.strip()]:
            r.fail(f"the Worker would answer config_invalid: {line}", f"fix it in [env.{r.env}.vars] or pass --var")
        return
    # --pack: the summary on stderr, the packed configuration alone on stdout.
    for line in out.stderr.splitlines():
        r.ok(line)
    packed = out.stdout.strip()
    path = tmp / f"{r.env}.packed"
    path.write_text(packed)
    if len(packed) > VAR_LIMIT:
        print(f"    note: the packed configuration is {len(packed)} characters, over Cloudflare's {VAR_LIMIT} for one "
              f"variable: deploy without it (the Worker then parses the JSON variables: a slower first request)")
    else:
        r.ok(f"packed configuration written to {path.relative_to(ROOT)} (deploy it as EDGE_CONFIG_PACKED)")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--env", required=True)
    ap.add_argument("--outdir", type=pathlib.Path, help="the dry run's output (skip to check configuration only)")
    ap.add_argument("--var", action="append", default=[], help="NAME:VALUE, as given to wrangler")
    ap.add_argument("--config", type=pathlib.Path, default=ROOT / "wrangler.toml")
    a = ap.parse_args()
    overrides = dict(v.split(":", 1) for v in a.var)
    r = Report(a.env)
    cfg = load_config(a.config)
    env_vars = check_environment(cfg, a.env, overrides, r)
    if env_vars is not None:
        classes = check_bindings(cfg, env_vars, r)
        if a.outdir:
            check_bundle(a.outdir, classes, r)
        tmp = ROOT / "target/deploy-check"
        tmp.mkdir(parents=True, exist_ok=True)
        check_vars(env_vars, r, tmp)
    for p in r.problems:
        print(f"  FAIL: {p}")
    sys.exit(min(len(r.problems), 100))


if __name__ == "__main__":
    main()
