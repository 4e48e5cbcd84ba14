-- TOTP (RFC 6238) second factor. The secret is encrypted at rest (XChaCha20-Poly1305 under
-- KEY_ENCRYPTION_KEY, AAD = 'totp:' || user_id). A factor is active once `confirmed_at` is set;
-- `last_step` is the last accepted time step (a code of that step or an earlier one is refused).
CREATE TABLE totp_factors (
    user_id      TEXT PRIMARY KEY REFERENCES users(id),
    secret_enc   BYTEA NOT NULL,
    nonce        BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    confirmed_at BIGINT,
    last_step    BIGINT
);

-- Single-use recovery codes, stored as SHA-256 of the normalized code (80 random bits each).
CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users(id),
    code_hash  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

-- The second step of a log-in: a password that checked out for an account with TOTP on yields
-- this challenge (stored as SHA-256 of the token), not a session. Single use, short-lived.
CREATE TABLE mfa_challenges (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id),
    amr        TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    failures   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX mfa_challenges_user ON mfa_challenges(user_id);
