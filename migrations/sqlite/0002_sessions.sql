-- Sessions: one row per sign-in. A token names its session (`sid`); it counts
-- only while its row is not revoked, so logout, "sign out everywhere" and a
-- password change end tokens before they expire. Times are RFC 3339 text in UTC.
CREATE TABLE sessions (
    id         TEXT    PRIMARY KEY,
    seller_id  INTEGER NOT NULL REFERENCES sellers (id) ON DELETE CASCADE,
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL,
    revoked_at TEXT
);
CREATE INDEX sessions_seller_id ON sessions (seller_id);

-- When the seller last signed out everywhere: tokens without a session id
-- (minted elsewhere with JWT_SECRET) issued before it no longer count.
ALTER TABLE sellers ADD COLUMN sessions_revoked_at TEXT;
