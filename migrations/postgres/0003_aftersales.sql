-- After-sales cases, satisfaction surveys, answer feedback, second line, inspection (postgres).
-- Tickets follow the conversation: when a later message re-scored the ticket.
ALTER TABLE tickets ADD COLUMN rescored_at BIGINT;
-- first (default) or second line, and the note written when it was transferred.
ALTER TABLE tickets ADD COLUMN tier TEXT NOT NULL DEFAULT 'first';
ALTER TABLE tickets ADD COLUMN transfer_note TEXT;

-- One after-sales case (售后单) per ticket: drafted by the router, completed by an agent.
CREATE TABLE cases (
    id TEXT PRIMARY KEY,
    shop TEXT NOT NULL,
    ticket_id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    customer_id TEXT,
    status TEXT NOT NULL,
    case_type TEXT,
    reason TEXT,
    responsibility TEXT,
    order_number TEXT,
    items TEXT,
    refund_amount TEXT,
    tracking_number TEXT,
    evidence_requested TEXT,
    evidence TEXT,
    note TEXT,
    drafted_by TEXT NOT NULL,
    submitted_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    submitted_at BIGINT
);
CREATE INDEX cases_shop_time ON cases (shop, created_at);

-- A resolved ticket's survey, and its rating.
CREATE TABLE surveys (
    id TEXT PRIMARY KEY,
    shop TEXT NOT NULL,
    ticket_id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    agent TEXT,
    answered_by TEXT NOT NULL,
    rating BIGINT,
    comment TEXT,
    created_at BIGINT NOT NULL,
    rated_at BIGINT
);
CREATE INDEX surveys_shop_time ON surveys (shop, rated_at);

-- 👍/👎 on a bot answer (the last vote counts).
CREATE TABLE answer_feedback (
    shop TEXT NOT NULL,
    message_id TEXT NOT NULL,
    helpful BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (shop, message_id)
);

-- The inspection sample: bot answers and agent replies, and inspectors' scores.
CREATE TABLE inspections (
    id TEXT PRIMARY KEY,
    shop TEXT NOT NULL,
    message_id TEXT NOT NULL,
    ticket_id TEXT,
    author_type TEXT NOT NULL,
    agent TEXT,
    why TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    inspector TEXT,
    correct BIGINT,
    polite BIGINT,
    compliant BIGINT,
    no_blind_canned BIGINT,
    passed BIGINT,
    note TEXT,
    scored_at BIGINT,
    UNIQUE (shop, message_id)
);
CREATE INDEX inspections_shop_time ON inspections (shop, created_at);
