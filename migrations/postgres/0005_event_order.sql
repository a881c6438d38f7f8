-- Event streams must not pass an event still to be committed (store/horizon.rs). An event's
-- number is taken only once its transaction has an id, so that a transaction holding a number
-- is listed with its id in pg_stat_activity until it ends. CASE evaluates its condition first.
CREATE FUNCTION smartreply_next_event_seq() RETURNS bigint LANGUAGE sql VOLATILE AS 'SELECT CASE WHEN pg_current_xact_id() IS NOT NULL THEN nextval(''events_seq_seq'') END';
ALTER TABLE events ALTER COLUMN seq SET DEFAULT smartreply_next_event_seq()
