-- Housekeeping (bot/housekeeping.py) deletes what is past its retention in batches,
-- oldest first: each batch must find its rows through an index, never by a scan.
CREATE INDEX IF NOT EXISTS outbox_sent ON outbox(status, sent_at);
CREATE INDEX IF NOT EXISTS processed_updates_age ON processed_updates(processed_at);
CREATE INDEX IF NOT EXISTS invite_attempts_age ON invite_attempts(attempted_at);
