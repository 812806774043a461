-- A handled update stays in the inbox as 'handled' (its body emptied) for the dedupe window
-- instead of being deleted and claimed again in processed_updates: its row (UNIQUE (channel,
-- update_key)) is the key that keeps a redelivery from being handled twice, and the
-- handling transaction writes one row instead of two tables. Housekeeping deletes handled
-- rows after the window (storage/processed_updates.py prune). Keys old code claimed in
-- processed_updates are still honoured (storage/inbox.py claim).
-- SQLite cannot change a CHECK in place: the table is rebuilt, its ids and its AUTOINCREMENT
-- counter kept (an id is never reused). PostgreSQL: postgres/0021_inbox_handled.sql.
CREATE TABLE inbox_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: one id, one update, in logs
    channel     TEXT NOT NULL,
    update_key  TEXT NOT NULL,  -- the bot it came to and the platform's id: "<bot>:<id>"
    person_key  TEXT NOT NULL,  -- one person's rows are handled one by one, in id order
    body        TEXT NOT NULL,  -- the update as the platform sent it (JSON), emptied once handled
    received_at TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'failed', 'handled')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    handled_at  TEXT,
    UNIQUE (channel, update_key)
);
INSERT INTO inbox_new (id, channel, update_key, person_key, body, received_at, status, attempts,
                       last_error)
    SELECT id, channel, update_key, person_key, body, received_at, status, attempts, last_error
    FROM inbox;
DELETE FROM sqlite_sequence WHERE name = 'inbox_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'inbox_new', seq FROM sqlite_sequence
    WHERE name = 'inbox';
DROP TABLE inbox;
ALTER TABLE inbox_new RENAME TO inbox;
CREATE INDEX inbox_pending ON inbox(person_key, id) WHERE status = 'pending';
CREATE INDEX inbox_failed ON inbox(received_at) WHERE status = 'failed';
CREATE INDEX inbox_handled ON inbox(handled_at) WHERE status = 'handled';
