"""scripts/deploy_check.py refuses what would break a deploy, naming the environment and the
setting (configuration only: the bundle half runs in scripts/test.sh's deploy-check stage)."""
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
ORIGIN = "https://origin.example.com"
ISSUERS = '[{"issuer":"https://origin.example.com","audiences":["edge-auth"],"jwks_url":"https://origin.example.com/.well-known/jwks.json"}]'


def check(*args, config=None):
    cmd = [sys.executable, str(ROOT / "scripts/deploy_check.py"), "--env", "production", *args]
    if config:
        cmd += ["--config", str(config)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=60)
    return out.returncode, out.stdout


def test_the_shipped_production_env_passes_once_its_urls_are_given():
    code, out = check("--var", f"ORIGIN_URL:{ORIGIN}", "--var", f"ISSUERS:{ISSUERS}")
    assert code == 0, out
    assert "configuration ok: Production" in out
    assert "ENVELOPE_SECRET" in out and "WEBHOOK_STRIPE" in out, "lists the secrets to put"
    # The packed configuration the deploy carries (EDGE_CONFIG_PACKED) fits one variable.
    assert "packed configuration written to target/deploy-check/production.packed" in out, out
    packed = (ROOT / "target/deploy-check/production.packed").read_text()
    assert packed.startswith("v1.") and len(packed) <= 5 * 1024, len(packed)


def test_the_shipped_placeholders_are_refused_naming_each_variable():
    code, out = check()
    assert code == 2, out
    assert "env.production: the Worker would answer config_invalid: ORIGIN_URL: is required but not set" in out
    assert "ISSUERS: is required but not set" in out


def test_loopback_private_and_plain_http_urls_are_refused():
    for origin, why in [("http://127.0.0.1:8788", "must be an https URL"), ("https://10.0.0.7", "names \"10.0.0.7\""),
                        ("https://localhost:8443", "names \"localhost\"")]:
        code, out = check("--var", f"ORIGIN_URL:{origin}", "--var", f"ISSUERS:{ISSUERS}")
        assert code == 1, out
        assert f'ORIGIN_URL: "{origin}" {why}' in out, out
    local_jwks = ISSUERS.replace("https://origin.example.com/.well-known", "http://127.0.0.1:8788/.well-known")
    code, out = check("--var", f"ORIGIN_URL:{ORIGIN}", "--var", f"ISSUERS:{local_jwks}")
    assert code == 1 and "ISSUERS[0]: jwks_url" in out, out


def test_an_environment_drifting_from_the_top_level_is_refused(tmp_path):
    text = (ROOT / "wrangler.toml").read_text()
    # Production loses its Durable Object binding and gets its own LEEWAY_SECONDS.
    drifted = text.replace('[env.production.durable_objects]\nbindings = [{ name = "RATE_LIMITER", class_name = "RateLimiter" }]\n', "")
    drifted = drifted.replace('[env.production.vars]\nDEPLOY_ENV = "production"\n', '[env.production.vars]\nDEPLOY_ENV = "production"\nEXTRA = "1"\n')
    assert drifted != text
    cfg = tmp_path / "wrangler.toml"
    cfg.write_text(drifted)
    code, out = check("--var", f"ORIGIN_URL:{ORIGIN}", "--var", f"ISSUERS:{ISSUERS}", config=cfg)
    assert code >= 2, out
    assert "env.production: durable_objects differ from the top level" in out
    assert "env.production: var EXTRA is only set here" in out


def test_an_unknown_environment_is_refused():
    out = subprocess.run([sys.executable, str(ROOT / "scripts/deploy_check.py"), "--env", "staging"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 1 and "env.staging: is not defined in wrangler.toml" in out.stdout


def test_the_checker_refuses_a_malformed_webhook_secret_it_is_given(tmp_path):
    # The Worker parses WEBHOOK_<ID> on its route's first delivery; edge-config-check parses
    # every one it is given, so a deploy check with the real secrets still refuses a bad one.
    exe = next(p for p in (ROOT / "target/release/edge-config-check", ROOT / "target/debug/edge-config-check") if p.is_file())
    routes = '[{"id":"stripe","path":"/webhooks/stripe","methods":["POST"],"access":{"webhook":"stripe"}}]'
    good = '{"provider":"stripe","secrets":["whsec_0123456789abcdef0123"]}'
    base = {"DEPLOY_ENV": "production", "ORIGIN_URL": ORIGIN, "ISSUERS": ISSUERS, "ROUTES": routes,
            "ENVELOPE_SECRET": "ab" * 32}
    for secret, code, text in [(good, 0, "1 webhook(s)"),
                               ('{"provider":"stripe","secrets":["short"]}', 1, "WEBHOOK_STRIPE: webhook config: secrets[0] is 5 bytes, at least 16")]:
        path = tmp_path / "vars.json"
        path.write_text(json.dumps({**base, "WEBHOOK_STRIPE": secret}))
        out = subprocess.run([str(exe), str(path)], capture_output=True, text=True, timeout=60)
        assert out.returncode == code, out.stdout + out.stderr
        assert text in out.stdout, out.stdout
