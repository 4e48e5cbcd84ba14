-- edge-auth origin schema v1 (SQLite). Times are unix milliseconds; flags are 0/1 integers.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- Per-account (per normalized email, known or not) login failure throttling.
CREATE TABLE login_throttle (
    email        TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users(id),
    user_agent     TEXT NOT NULL DEFAULT '',
    ip             TEXT NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER,
    revoked_reason TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);

-- Refresh tokens are stored as SHA-256 hashes only. `used_at` set = rotated (a replay is reuse).
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);

-- Private parts are encrypted (XChaCha20-Poly1305, AAD = kid) with KEY_ENCRYPTION_KEY.
CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    public_jwk  TEXT NOT NULL,
    private_enc BLOB NOT NULL,
    nonce       BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
);

CREATE TABLE revocations (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind           TEXT NOT NULL CHECK (kind IN ('session', 'user')),
    session_id     TEXT,
    user_id        TEXT NOT NULL,
    issued_before  INTEGER NOT NULL,
    relevant_until INTEGER NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE roles (
    name        TEXT PRIMARY KEY,
    parent      TEXT REFERENCES roles(name) ON DELETE SET NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);
CREATE TABLE permissions (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);
CREATE TABLE role_permissions (
    role       TEXT NOT NULL REFERENCES roles(name) ON DELETE CASCADE,
    permission TEXT NOT NULL REFERENCES permissions(name) ON DELETE CASCADE,
    PRIMARY KEY (role, permission)
);
CREATE TABLE user_roles (
    user_id    TEXT NOT NULL REFERENCES users(id),
    role       TEXT NOT NULL REFERENCES roles(name) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, role)
);
-- Static separation of duty: no user may hold both roles (stored with role_a < role_b).
CREATE TABLE sod_constraints (
    role_a TEXT NOT NULL REFERENCES roles(name) ON DELETE CASCADE,
    role_b TEXT NOT NULL REFERENCES roles(name) ON DELETE CASCADE,
    PRIMARY KEY (role_a, role_b),
    CHECK (role_a < role_b)
);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor      TEXT,
    action     TEXT NOT NULL,
    target     TEXT,
    detail     TEXT NOT NULL DEFAULT '{}',
    request_id TEXT
);

CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER,
    content_type TEXT,
    body         BLOB,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);

INSERT INTO roles (name, parent, description, created_at) VALUES ('user', NULL, 'every signed-up account', 0);
INSERT INTO roles (name, parent, description, created_at) VALUES ('admin', 'user', 'administrators', 0);
INSERT INTO permissions (name, description, created_at) VALUES ('rbac:admin', 'manage roles, permissions, users, keys; read the audit log', 0);
INSERT INTO permissions (name, description, created_at) VALUES ('profile:read', 'read own profile and sessions', 0);
INSERT INTO role_permissions (role, permission) VALUES ('admin', 'rbac:admin');
INSERT INTO role_permissions (role, permission) VALUES ('user', 'profile:read');
