-- Minting an access token reads the user's latest user-wide revocation mark (a token minted in
-- the mark's own second is dated after it: domain::revocations::issuance_after_marks).
CREATE INDEX revocations_by_user ON revocations (user_id, kind, issued_before);
