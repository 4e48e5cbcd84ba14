-- Social sign-in (issue 17). An identity is keyed by (provider, issuer, subject) — never by
-- e-mail — and belongs to one user; a user has at most one identity per provider.
-- Passwords become optional without touching existing rows: an account created by a provider
-- stores the unverifiable hash '!' (the marker account deletion already uses), and "has a
-- password" means a PHC string ('$argon2…'). SQLite cannot drop NOT NULL without rebuilding
-- `users`, which other tables reference, so both databases use the same marker.
CREATE TABLE identities (
    provider      TEXT NOT NULL,
    issuer        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users(id),
    email         TEXT,
    -- Provider tokens, when kept: XChaCha20-Poly1305 under KEY_ENCRYPTION_KEY with
    -- AAD 'social-token:' || user_id || ':' || provider. Never sent to the browser.
    tokens_enc    BLOB,
    tokens_nonce  BLOB,
    created_at    INTEGER NOT NULL,
    last_login_at INTEGER,
    PRIMARY KEY (provider, issuer, subject)
);
CREATE UNIQUE INDEX identities_user_provider ON identities(user_id, provider);

-- The `state` of every authorization response that reached the callback, so a second use of
-- the same state (a replayed callback URL, a copied flow cookie) is refused. Stored as SHA-256,
-- deleted by the retention sweep once past `expires_at`.
CREATE TABLE oauth_used_states (
    state_hash TEXT PRIMARY KEY,
    used_at    INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
