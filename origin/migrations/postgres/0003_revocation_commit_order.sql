-- The revocation feed's cursor must never skip an entry that commits late. `seq` comes from an
-- identity drawn at insert time, so two writers can commit in the opposite order of their seqs:
-- a poll between the two commits would move an edge's cursor past the entry still in flight, and
-- that revocation would never reach the edge. Each entry now also records the id of the
-- transaction that wrote it; the feed pages by (txid, seq) and only up to the oldest transaction
-- still running (the snapshot's xmin), so everything below its horizon is final.
-- xid8 is stored as BIGINT (sqlx's Any driver has no xid8); epoch-extended ids fit in 63 bits.
ALTER TABLE revocations
    ADD COLUMN txid BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX revocations_commit_order ON revocations (txid, seq);
