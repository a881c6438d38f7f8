-- A ticket's second SLA clock: when a complaint must be settled (NULL: no such promise).
-- due_at stays the first human response's deadline, by priority, for every ticket.
ALTER TABLE tickets ADD COLUMN resolution_due_at INTEGER;
