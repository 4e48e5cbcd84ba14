-- How and when the person behind a session last authenticated, so every access token minted
-- for it (at log-in and at each refresh) carries the same `auth_time` / `amr` / `acr`.
-- `auth_time` is unix milliseconds; `amr` is the RFC 8176 method list, space-separated.
-- Sessions from before this migration were password log-ins at their creation.
ALTER TABLE sessions ADD COLUMN auth_time INTEGER;
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
UPDATE sessions SET auth_time = created_at WHERE auth_time IS NULL;
