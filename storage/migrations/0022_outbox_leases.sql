-- The shared outbox (issue 14): with several instances on one PostgreSQL every instance
-- sends, each row claimed first (storage/outbox.py, SharedOutbox: the locking story).
-- leased_by: the sender holding the row (the key of its session advisory lock, NULL when
-- nobody); lease_until: when the lease lapses even if that sender still looks alive.
-- Both nullable, no default: safe while an older version serves (it never reads them).
-- SQLite (one process) never writes them.
ALTER TABLE outbox ADD COLUMN leased_by INTEGER;
ALTER TABLE outbox ADD COLUMN lease_until TEXT;
