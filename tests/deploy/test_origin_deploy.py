"""The origin's production kit: the systemd unit is valid for systemd, and the documented
production environment file is accepted by the real binary's configuration check."""
import pathlib
import re
import secrets
import shutil
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = ROOT / "target/release/edge-auth-origin"


def test_the_systemd_unit_verifies(tmp_path):
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: apt-get install systemd"
    unit = (ROOT / "deploy/systemd/edge-auth-origin.service").read_text()
    # Point the unit at the binary built here (systemd-analyze checks ExecStart is executable).
    unit = unit.replace("/usr/local/bin/edge-auth-origin", str(BIN))
    path = tmp_path / "edge-auth-origin.service"
    path.write_text(unit)
    out = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, timeout=60)
    problems = [l for l in (out.stdout + out.stderr).splitlines()
                if "edge-auth-origin.service" in l and "network-online.target" not in l and "postgresql.service" not in l]
    assert out.returncode == 0 and not problems, out.stdout + out.stderr


def test_the_documented_production_env_is_a_valid_configuration():
    text = (ROOT / "deploy/systemd/origin.env.example").read_text()
    env = {"PATH": "/usr/bin:/bin"}
    for line in text.splitlines():
        m = re.match(r"^([A-Z0-9_]+)=(.*)$", line)
        if m:
            env[m.group(1)] = m.group(2)
    assert env["MIGRATE_ON_START"] == "false" and env["DATABASE_URL"].startswith("postgres://")
    # The placeholders are what an operator replaces: generated secrets stand in for them.
    for k, v in env.items():
        if "CHANGE_ME" in v and k != "DATABASE_URL":
            env[k] = secrets.token_hex(32)
    out = subprocess.run([str(BIN), "check-config"], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "configuration ok: listen 127.0.0.1:8801, postgresql database, issuer https://auth.example.com" in out.stdout
    assert "migrate on start false, drain 10 s + grace 25 s" in out.stdout
    # And an operator's typo names its variable.
    out = subprocess.run([str(BIN), "check-config"], env={**env, "SHUTDOWN_GRACE_SECS": "25s"},
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "SHUTDOWN_GRACE_SECS" in out.stderr, out.stderr


def test_the_container_root_runs_the_service_with_nothing_but_what_it_ships(tmp_path):
    import os
    import socket
    import time
    import urllib.request
    assert os.geteuid() == 0, "chroot needs root (CI runs as root)"
    out = subprocess.run(["bash", str(ROOT / "deploy/container/build-rootfs.sh")], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    rootfs = ROOT / "target/container/rootfs"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"ENVELOPE_SECRET": secrets.token_hex(32), "KEY_ENCRYPTION_KEY": secrets.token_hex(32), "DATA_DIR": "/data",
           "ORIGIN_ADDR": f"127.0.0.1:{port}", "WEBHOOK_WORKERS": "1"}
    # As the image runs it: the unprivileged user, only the root the tar carries.
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"
    proc = subprocess.Popen([chroot, "--userspec=65534:65534", str(rootfs), "/usr/local/bin/edge-auth-origin", "serve"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        body, deadline = None, time.time() + 30
        while time.time() < deadline and proc.poll() is None:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2).read().decode()
                break
            except OSError:
                time.sleep(0.2)
        assert body and '"ready"' in body, (body, proc.poll())
        proc.terminate()
        assert proc.wait(30) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
