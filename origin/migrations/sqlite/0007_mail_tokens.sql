-- Single-use tokens sent by e-mail (password reset, e-mail verification): only their SHA-256 is
-- stored; `email` is the address the link went to (a verification holds only for that address).
CREATE TABLE mail_tokens (
    token_hash TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL CHECK (purpose IN ('password_reset', 'verify_email')),
    user_id    TEXT NOT NULL REFERENCES users(id),
    email      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX mail_tokens_user ON mail_tokens(user_id);

-- When the account's e-mail address was proven (a verification link or a password reset).
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;
