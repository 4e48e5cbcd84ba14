"""Issue 19 (origin parts) end to end through the real Worker: tokens carry auth_time/amr/acr,
TOTP makes the log-in two steps (replay refused, recovery code once), and a password reset mailed
over real SMTP (a small SMTP sink here) works once and ends every old session at the edge."""
import base64, hashlib, hmac, json, re, secrets, socketserver, struct, threading, time

import requests

from conftest import EDGE

from test_origin_through_edge import me, signup_and_login, wait_for_401


def claims(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def totp(secret_b32: str, at: float) -> str:
    """RFC 6238 (SHA-1, 6 digits, 30 s), written out: the test does not trust the origin's crate."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    o = mac[-1] & 15
    return f"{(struct.unpack('>I', mac[o:o + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def bearer(t):
    return {"Authorization": f"Bearer {t['access_token']}"}


def test_tokens_say_how_and_when_and_totp_makes_the_login_two_steps(system):
    email, password, t = signup_and_login()
    c = claims(t["access_token"])
    assert c["amr"] == ["pwd"] and c["acr"] == "urn:edge-auth:acr:pwd"
    assert abs(c["auth_time"] - time.time()) < 60
    assert me(t["access_token"]).status_code == 200, "the edge takes the new claims"
    # A refresh keeps auth_time.
    r = requests.post(f"{EDGE}/auth/refresh", json={"refresh_token": t["refresh_token"]}, timeout=10)
    assert r.status_code == 200, r.text
    assert claims(r.json()["access_token"])["auth_time"] == c["auth_time"]

    r = requests.post(f"{EDGE}/api/mfa/totp/enroll", headers=bearer(t), json={}, timeout=10)
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    assert r.json()["qr_svg"].startswith("<svg")
    confirmed_at = time.time()
    used = totp(secret, confirmed_at)
    r = requests.post(f"{EDGE}/api/mfa/totp/confirm", headers=bearer(t), json={"code": used}, timeout=10)
    assert r.status_code == 200, r.text
    recovery = r.json()["recovery_codes"]
    assert len(recovery) == 10

    def password_step():
        r = requests.post(f"{EDGE}/auth/login", json={"email": email, "password": password}, timeout=10)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["mfa_required"] is True and "access_token" not in body and "set-cookie" not in r.headers
        return body["mfa_token"]

    challenge = password_step()
    # The confirming code (its step, or the previous one if a step boundary passed) is a replay.
    r = requests.post(f"{EDGE}/auth/login/mfa", json={"mfa_token": challenge, "code": used}, timeout=10)
    assert (r.status_code, r.json()["error"]) == (401, "otp_already_used"), r.text
    # The next step's code is inside the ±1 window whether or not the clock has reached it.
    r = requests.post(f"{EDGE}/auth/login/mfa", json={"mfa_token": challenge, "code": totp(secret, confirmed_at + 30)},
                      timeout=10)
    assert r.status_code == 200, r.text
    t2 = r.json()
    c2 = claims(t2["access_token"])
    assert c2["amr"] == ["pwd", "otp", "mfa"] and c2["acr"] == "urn:edge-auth:acr:mfa"
    assert me(t2["access_token"]).status_code == 200
    r = requests.post(f"{EDGE}/auth/login/mfa", json={"mfa_token": challenge, "code": totp(secret, confirmed_at + 30)},
                      timeout=10)
    assert (r.status_code, r.json()["error"]) == (401, "mfa_challenge_invalid")

    # A recovery code works once.
    challenge = password_step()
    r = requests.post(f"{EDGE}/auth/login/mfa", json={"mfa_token": challenge, "recovery_code": recovery[0]}, timeout=10)
    assert r.status_code == 200, r.text
    challenge = password_step()
    r = requests.post(f"{EDGE}/auth/login/mfa", json={"mfa_token": challenge, "recovery_code": recovery[0]}, timeout=10)
    assert (r.status_code, r.json()["error"]) == (401, "invalid_otp")


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP for lettre: EHLO, MAIL, RCPT, DATA (dot-unstuffed), RSET, NOOP, QUIT."""

    def handle(self):
        w = self.wfile.write
        w(b"220 sink.test ESMTP\r\n")
        rcpt = []
        while line := self.rfile.readline():
            cmd = line.decode().rstrip("\r\n")
            up = cmd.upper()
            if up.startswith("EHLO"):
                w(b"250-sink.test\r\n250 8BITMIME\r\n")
            elif up.startswith("MAIL FROM:"):
                rcpt = []
                w(b"250 OK\r\n")
            elif up.startswith("RCPT TO:"):
                rcpt.append(cmd[8:].strip().strip("<>"))
                w(b"250 OK\r\n")
            elif up == "DATA":
                w(b"354 go ahead\r\n")
                data = []
                while (l := self.rfile.readline().decode()) not in (".\r\n", ""):
                    data.append(l[1:] if l.startswith(".") else l)
                self.server.mails.append((rcpt, "".join(data)))
                w(b"250 queued\r\n")
            elif up == "QUIT":
                w(b"221 bye\r\n")
                return
            else:
                w(b"250 OK\r\n")


def test_a_reset_mailed_over_smtp_works_once_and_ends_every_session_at_the_edge(system):
    sink = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    sink.mails = []
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    try:
        # The origin now mails through the sink (links point at the edge).
        saved = {k: system.origin_env.get(k) for k in ("SMTP_URL", "MAIL_FROM", "PUBLIC_URL")}
        system.origin_env.update(SMTP_URL=f"smtp://127.0.0.1:{sink.server_address[1]}",
                                 MAIL_FROM="edge-auth <no-reply@edge-auth.test>", PUBLIC_URL=EDGE)
        system.restart_origin()
        email, password, t1 = signup_and_login()
        r = requests.post(f"{EDGE}/auth/login", json={"email": email, "password": password}, timeout=10)
        t2 = r.json()
        r = requests.post(f"{EDGE}/auth/password/forgot", json={"email": email}, timeout=10)
        assert r.status_code == 202, r.text
        r2 = requests.post(f"{EDGE}/auth/password/forgot", json={"email": f"nobody-{secrets.token_hex(4)}@example.com"},
                           timeout=10)
        assert (r2.status_code, r2.json()) == (202, r.json()), "an unknown address gets the same answer"
        deadline = time.time() + 10
        while not sink.mails and time.time() < deadline:
            time.sleep(0.05)
        assert len(sink.mails) == 1, sink.mails
        rcpt, data = sink.mails[0]
        assert rcpt == [email] and "Subject: Reset your password" in data
        text = data.replace("=\r\n", "").replace("=3D", "=")
        token = re.search(re.escape(EDGE) + r"/reset-password#token=([A-Za-z0-9_-]+)", text).group(1)

        new_password = f"new passphrase {secrets.token_hex(6)}"
        r = requests.post(f"{EDGE}/auth/password/reset", json={"token": token, "password": new_password}, timeout=10)
        assert r.status_code == 204, r.text
        reset_at = time.time()
        r = requests.post(f"{EDGE}/auth/password/reset", json={"token": token, "password": new_password}, timeout=10)
        assert (r.status_code, r.json()["error"]) == (400, "reset_token_invalid")
        # Every old session is refused at the edge (revocation feed), and cannot refresh.
        for t in (t1, t2):
            wait_for_401(t["access_token"], "token_revoked", limit_s=3)
            r = requests.post(f"{EDGE}/auth/refresh", json={"refresh_token": t["refresh_token"]}, timeout=10)
            assert r.status_code == 401, r.text
        # The feed's "tokens issued before" mark has whole-second precision (rounded up): a token
        # minted in the reset's own second is void too, so the new log-in waits for the next one.
        time.sleep(max(0.0, int(reset_at) + 1.1 - time.time()))
        r = requests.post(f"{EDGE}/auth/login", json={"email": email, "password": new_password}, timeout=10)
        assert r.status_code == 200, r.text
        assert me(r.json()["access_token"]).status_code == 200
        time.sleep(0.3)
        assert len(sink.mails) == 1, "nothing was mailed for the unknown address"
    finally:
        # Back to the fixture's values (PUBLIC_URL is also the social sign-in's base).
        for k, v in saved.items():
            if v is None:
                system.origin_env.pop(k, None)
            else:
                system.origin_env[k] = v
        sink.shutdown()
        sink.server_close()
