-- smartreply schema, PostgreSQL. Timestamps are Unix milliseconds.
CREATE TABLE messages (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    shop TEXT NOT NULL,
    message_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    customer_id TEXT,
    role TEXT NOT NULL,
    kind TEXT,
    author TEXT,
    text TEXT NOT NULL,
    faq_id TEXT,
    ticket_id TEXT,
    in_reply_to TEXT,
    channel TEXT,
    response TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (shop, message_id)
);
CREATE INDEX messages_conversation ON messages (shop, conversation_id, seq);

CREATE TABLE decisions (
    message_seq BIGINT PRIMARY KEY,
    shop TEXT NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT,
    intent TEXT NOT NULL,
    intent_confidence DOUBLE PRECISION NOT NULL,
    sentiment TEXT NOT NULL,
    sentiment_score DOUBLE PRECISION NOT NULL,
    faq_id TEXT,
    models TEXT NOT NULL,
    detail TEXT NOT NULL,
    latency_us BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX decisions_shop_time ON decisions (shop, created_at);

CREATE TABLE tickets (
    id TEXT PRIMARY KEY,
    shop TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    customer_id TEXT,
    status TEXT NOT NULL,
    priority TEXT NOT NULL,
    priority_rank BIGINT NOT NULL,
    reason TEXT NOT NULL,
    intent TEXT NOT NULL,
    intent_confidence DOUBLE PRECISION NOT NULL,
    sentiment TEXT NOT NULL,
    sentiment_score DOUBLE PRECISION NOT NULL,
    lang TEXT NOT NULL,
    faq_id TEXT,
    draft TEXT NOT NULL,
    extracted TEXT NOT NULL,
    last_message TEXT NOT NULL,
    claimed_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    first_response_at BIGINT,
    resolved_at BIGINT,
    sla_breached BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX tickets_one_unresolved ON tickets (shop, conversation_id) WHERE status <> 'resolved';
CREATE INDEX tickets_queue ON tickets (shop, status, priority_rank, due_at);

CREATE TABLE agent_actions (
    id BIGSERIAL PRIMARY KEY,
    ticket_id TEXT NOT NULL,
    shop TEXT NOT NULL,
    agent TEXT NOT NULL,
    action TEXT NOT NULL,
    draft_outcome TEXT,
    intent TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX agent_actions_shop_time ON agent_actions (shop, created_at);

CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    shop TEXT NOT NULL,
    kind TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    ticket_id TEXT,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX events_shop_seq ON events (shop, seq);

CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    shop TEXT NOT NULL,
    ticket_id TEXT,
    conversation_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
