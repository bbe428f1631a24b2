-- Sellers: one account per shop. `last_seq` is the seller's notification
-- counter: the transaction that inserts a notification first bumps it, so
-- seqs are per seller, gapless and in commit order.
CREATE TABLE sellers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    shop_name     TEXT    NOT NULL,
    last_seq      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT    NOT NULL
);
-- Emails are stored lower-cased, so a plain unique index is case-insensitive.
CREATE UNIQUE INDEX sellers_email_key ON sellers (email);

-- Notifications: the durable log that live pushes, retries and the delta API
-- all read. Times are RFC 3339 text in UTC.
CREATE TABLE notifications (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    seller_id   INTEGER NOT NULL REFERENCES sellers (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    type        TEXT    NOT NULL,
    title       TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    data        TEXT    NOT NULL DEFAULT '{}',
    created_at  TEXT    NOT NULL,
    sent_at     TEXT,
    received_at TEXT,
    read_at     TEXT,
    failed_at   TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0
);
-- Delta (`after`), list (`before`) and replay all walk one seller's seqs.
CREATE UNIQUE INDEX notifications_seller_seq_key ON notifications (seller_id, seq);
-- The unread badge and read-all touch only unread rows.
CREATE INDEX notifications_unread_idx ON notifications (seller_id, seq) WHERE read_at IS NULL;
-- Retries and pending counts touch only rows not yet received.
CREATE INDEX notifications_unreceived_idx ON notifications (seller_id, seq) WHERE received_at IS NULL;

-- Orders placed on a seller's storefront.
CREATE TABLE orders (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    seller_id     INTEGER NOT NULL REFERENCES sellers (id) ON DELETE CASCADE,
    customer_name TEXT    NOT NULL,
    items         TEXT    NOT NULL,
    note          TEXT,
    total_cents   INTEGER NOT NULL,
    created_at    TEXT    NOT NULL
);
CREATE INDEX orders_seller_idx ON orders (seller_id, id);
