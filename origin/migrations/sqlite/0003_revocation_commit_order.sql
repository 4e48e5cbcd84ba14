-- Same column as on PostgreSQL so one feed query serves both backends. SQLite has one writer at
-- a time (writes begin with BEGIN IMMEDIATE), so `seq` order is commit order and txid stays 0.
ALTER TABLE revocations ADD COLUMN txid INTEGER NOT NULL DEFAULT 0;
CREATE INDEX revocations_commit_order ON revocations (txid, seq);
