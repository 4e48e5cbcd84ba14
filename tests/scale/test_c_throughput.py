"""Issue 22 part 4, check 6 (full run only): throughput and latency through the edge with 1 and with
3 origin processes behind nginx, on an authenticated route that reads the database
(`GET /api/sessions`). wrk from Debian, bounded runs; the table is printed and written to
target/scale-throughput.md. Also the CPU seconds each component used during each run (from
/proc), which is what says where the machine's cores went."""
import datetime, os, pathlib, re, subprocess, time

import pytest

from conftest import make_stack
from stack import EDGE, NGINX, ROOT, env_required, new_rid

DURATION = int(os.environ.get("SCALE_WRK_SECS", "10"))
CONNECTIONS = 8


@pytest.fixture(scope="module")
def perf():
    s = make_stack("perf", env_required("SCALE_ORIGIN_BIN"))
    yield s
    s.close()


def group_cpu_secs(pgid: int) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / tick


def postgres_cpu_secs() -> float:
    """The scale test's own PostgreSQL: its postmaster, the backends alive now, and (through the
    postmaster's cutime/cstime) the backends that have exited."""
    pm = int((pathlib.Path(os.environ.get("PG_TEST_DIR", "/tmp/edge-auth-pg-scale")) / "data/postmaster.pid").read_text().split()[0])
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            pid = int(stat.parent.name)
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, ValueError):
            continue
        if pid == pm or int(fields[1]) == pm:  # ppid
            total += int(fields[11]) + int(fields[12])  # utime + stime
        if pid == pm:
            total += int(fields[13]) + int(fields[14])  # cutime + cstime: backends that have exited
    return total / tick


def wrk(script: pathlib.Path, secs: int, url: str = f"{EDGE}/api/sessions") -> dict:
    out = subprocess.run(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{secs}s", "--latency", "-s", str(script),
                          url], capture_output=True, text=True, timeout=secs + 60)
    assert out.returncode == 0, out.stderr
    text = out.stdout

    def ms(label):
        m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        assert m, f"no {label} in wrk output:\n{text}"
        return float(m[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m[2]]

    total = int(re.search(r"(\d+) requests in", text)[1])
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text)[1]), "requests": total,
            "p50": ms("50%"), "p90": ms("90%"), "p99": ms("99%"),
            "non2xx": int(non2xx[1]) if non2xx else 0, "socket_errors": errors[1] if errors else None, "raw": text}


def test_6_throughput_and_p99_with_1_and_3_origin_processes(perf, tmp_path):
    token = perf.admin["Authorization"].split()[1]
    script = tmp_path / "auth.lua"
    script.write_text(f'wrk.method = "GET"\nwrk.headers["Authorization"] = "Bearer {token}"\n')
    ident = perf.identity_of(token)

    def origin_tier_script() -> pathlib.Path:
        """wrk straight at nginx with the envelope the edge would sign (valid 60 s: signed per run)."""
        p = tmp_path / "envelope.lua"
        headers = perf.sign("GET", "/api/sessions", ident, new_rid())
        p.write_text('wrk.method = "GET"\n' + "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items()))
        return p

    all_ports = [o.port for o in perf.origins]
    groups = {"edge": perf.edge.pid, "nginx": perf.nginx.pid, **{f"origin {o.index}": o.proc.pid for o in perf.origins}}

    def cpu_now():
        return {**{k: group_cpu_secs(p) for k, p in groups.items()}, "postgres": postgres_cpu_secs()}

    wrk(script, 3)  # warm-up: JWKS, decision cache, connections
    rows = []
    for path in ("edge", "origins"):
        for n in (3, 1, 3, 1):
            perf.reload_nginx(all_ports[:n])
            before = cpu_now()
            if path == "edge":
                r = wrk(script, DURATION)
            else:
                r = wrk(origin_tier_script(), DURATION, f"{NGINX}/api/sessions")
            after = cpu_now()
            cpu = {k: after[k] - before[k] for k in after}
            assert r["requests"] > 0 and r["non2xx"] == 0 and r["socket_errors"] is None, r["raw"]
            rows.append((path, n, r, cpu))
    perf.reload_nginx(all_ports)

    def cpu_cell(cpu):
        origins = sum(v for k, v in cpu.items() if k.startswith("origin"))
        return f"{cpu['edge']:.1f} / {cpu['nginx']:.1f} / {origins:.1f} / {cpu['postgres']:.1f}"

    lines = [f"`GET /api/sessions` (authenticated, reads PostgreSQL); wrk -t1 -c{CONNECTIONS} -d{DURATION}s per row, "
             f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores shared with other work; "
             "rows in the order run", "",
             "| path | origin processes | req/s | p50 ms | p90 ms | p99 ms | CPU s: edge / nginx / origins / PostgreSQL |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for path, n, r, cpu in rows:
        label = "client → Worker (wrangler dev) → nginx → origins" if path == "edge" else "client → nginx → origins (envelope pre-signed)"
        lines.append(f"| {label} | {n} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p90']:.1f} | {r['p99']:.1f} | {cpu_cell(cpu)} |")
    table = "\n".join(lines)
    print("\n" + table)
    (ROOT / "target").mkdir(exist_ok=True)
    (ROOT / "target" / "scale-throughput.md").write_text(table + "\n")
