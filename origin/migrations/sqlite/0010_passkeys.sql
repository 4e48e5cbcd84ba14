-- Passkeys (WebAuthn, webauthn-rs). Migration 0009 is reserved for social login.
--
-- The WebAuthn user handle of an account: 128 random bits (a UUID), never the user id or the
-- address, so an authenticator holds nothing that names the person.
CREATE TABLE webauthn_users (
    user_id    TEXT PRIMARY KEY REFERENCES users(id),
    handle     TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

-- A registered passkey: its credential id (base64url, unique across accounts) and the
-- webauthn-rs `Passkey` (public key, algorithm, signature counter, backup flags) as JSON.
CREATE TABLE passkeys (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id),
    credential_id TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    credential    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE INDEX passkeys_user ON passkeys(user_id);

-- The server side of a ceremony between its two requests: stored as SHA-256 of the id the
-- client holds, single use (`used_at` is set before the answer is checked), short-lived.
-- `kind` is register / login / second_factor / step_up; `user_id` is empty for a usernameless
-- log-in; `bound_to` is the MFA challenge hash (second_factor) or the session (step_up).
CREATE TABLE webauthn_challenges (
    id_hash    TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    user_id    TEXT,
    bound_to   TEXT,
    state      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX webauthn_challenges_expiry ON webauthn_challenges(expires_at);
