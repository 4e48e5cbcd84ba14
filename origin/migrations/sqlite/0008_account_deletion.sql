-- A deleted account keeps its row (sessions, audit entries and revocations point at its id) but
-- nothing personal: the e-mail becomes 'deleted+<id>@deleted.invalid', the password hash an
-- unverifiable '!', and `deleted_at` says when.
ALTER TABLE users ADD COLUMN deleted_at INTEGER;
