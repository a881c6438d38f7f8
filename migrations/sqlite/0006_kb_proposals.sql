-- The knowledge loop (docs/knowledge-loop.md): what owners decided about proposed FAQ entries
-- and template changes. The evidence (message or ticket ids, a JSON array) is not proposed again.
CREATE TABLE kb_proposals (
    id TEXT PRIMARY KEY,
    shop TEXT NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    status TEXT NOT NULL,
    evidence TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    decided_at INTEGER NOT NULL
);
CREATE INDEX kb_proposals_shop ON kb_proposals (shop, decided_at);
