-- Scheduled rotation publishes the next signing key before it signs anything: a key with
-- `activates_at` in the future is in the JWKS (edges cache it) but not used to mint tokens
-- until then. NULL: active from `created_at` (keys made by hand or before this migration).
ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT;
