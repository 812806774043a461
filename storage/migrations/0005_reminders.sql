-- Reminders: schedules live here, so a restart loses none. Times are Asia/Bangkok.
-- kind: weekly_progress, overdue_items, core_digest, decider_digest, forum_monthly,
-- lessons_due. weekday 0 = Monday; day_of_month for monthly kinds.
CREATE TABLE schedules (
    kind         TEXT PRIMARY KEY,
    hour         INTEGER NOT NULL CHECK (hour BETWEEN 0 AND 23),
    minute       INTEGER NOT NULL DEFAULT 0 CHECK (minute BETWEEN 0 AND 59),
    weekday      INTEGER CHECK (weekday BETWEEN 0 AND 6),
    day_of_month INTEGER CHECK (day_of_month BETWEEN 1 AND 28),
    enabled      INTEGER NOT NULL DEFAULT 1,
    params       TEXT NOT NULL DEFAULT '{}',
    next_run_at  TEXT,
    last_run_at  TEXT
);

INSERT INTO schedules (kind, hour, minute, weekday, day_of_month, params) VALUES
    ('weekly_progress', 9, 0, 0, NULL, '{}'),
    ('overdue_items', 8, 30, NULL, NULL, '{"grace_days": 7}'),
    ('core_digest', 7, 30, NULL, NULL, '{}'),
    ('decider_digest', 7, 30, NULL, NULL, '{"waiting_days": 3}'),
    ('forum_monthly', 9, 0, NULL, 1, '{}'),
    ('lessons_due', 9, 30, NULL, NULL, '{"days_before": 3}');

-- A tambon may switch a kind of reminder off for its villages and teams.
CREATE TABLE tambon_reminders (
    tambon_code TEXT NOT NULL REFERENCES areas(code),
    kind        TEXT NOT NULL REFERENCES schedules(kind),
    enabled     INTEGER NOT NULL,
    updated_by  INTEGER REFERENCES people(id),
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tambon_code, kind)
);

-- A person may pause their reminders (NULL: until they resume).
CREATE TABLE reminder_pauses (
    person_id    INTEGER PRIMARY KEY REFERENCES people(id),
    paused_until TEXT,
    paused_at    TEXT NOT NULL
);

-- Announcements a core team sends to its villages; their outbox rows carry batch.
CREATE TABLE broadcasts (
    id          INTEGER PRIMARY KEY,
    tambon_code TEXT NOT NULL REFERENCES areas(code),
    sender_id   INTEGER NOT NULL REFERENCES people(id),
    text        TEXT NOT NULL,
    recipients  INTEGER NOT NULL,
    created_at  TEXT NOT NULL
);

ALTER TABLE outbox ADD COLUMN batch TEXT;
CREATE INDEX outbox_batch ON outbox(batch, status) WHERE batch IS NOT NULL;

-- The sender reads pending rows most urgent first: with 75,000 reminders queued, a
-- live reply must still be found without sorting them all.
CREATE INDEX outbox_pending ON outbox(channel, priority, id) WHERE status = 'pending';
