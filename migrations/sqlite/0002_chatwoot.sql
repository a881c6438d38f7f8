-- Chatwoot agent bot (SQLite). Timestamps are Unix milliseconds.
-- Events Chatwoot delivered and smartreply must act on, stored before the 200 so a crash only
-- delays them. The delivery id (X-Chatwoot-Delivery, stable across Chatwoot's retries) dedupes.
CREATE TABLE chatwoot_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    shop TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_until INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    processed_at INTEGER,
    UNIQUE (shop, delivery_id)
);
CREATE INDEX chatwoot_events_pending ON chatwoot_events (status, seq);

-- Calls to Chatwoot's API waiting to be made, delivered in order per conversation.
CREATE TABLE chatwoot_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    shop TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    action TEXT NOT NULL,
    path TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    delivered_at INTEGER
);
CREATE INDEX chatwoot_outbox_due ON chatwoot_outbox (status, next_attempt_at);
CREATE INDEX chatwoot_outbox_conversation ON chatwoot_outbox (shop, conversation_id, status, seq);
