-- Durable intake: every update a platform delivers is stored here before the platform
-- is told it arrived (LINE's 200, Telegram's webhook 200 or next getUpdates offset), and
-- handled from here. The handling transaction deletes the row together with claiming the
-- update in processed_updates, so a crash at any instant neither loses nor doubles it.
-- A row that cannot be handled (a bug, after a few tries) stays as 'failed' with its error.
CREATE TABLE inbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: one id, one update, in logs
    channel     TEXT NOT NULL,
    update_key  TEXT NOT NULL,  -- the bot it came to and the platform's id: "<bot>:<id>"
    person_key  TEXT NOT NULL,  -- one person's rows are handled one by one, in id order
    body        TEXT NOT NULL,  -- the update as the platform sent it (JSON)
    received_at TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    UNIQUE (channel, update_key)
);
CREATE INDEX inbox_pending ON inbox(person_key, id) WHERE status = 'pending';
