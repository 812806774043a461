-- Per-tambon reminder times (issue 16): a tambon core team gives a kind of reminder its own
-- Bangkok time and days for its tambon; the kind's row in schedules stays the default for
-- every other tambon. weekdays: the days it may go, as "0,2,4" (0 = Monday), NULL for the
-- kind's own days (its weekday, its day of the month, or every day). next_run_at: when the
-- scheduler plans it next for this tambon (NULL: not computed yet).
CREATE TABLE tambon_reminder_times (
    tambon_code TEXT NOT NULL REFERENCES areas(code),
    kind        TEXT NOT NULL REFERENCES schedules(kind),
    hour        INTEGER NOT NULL CHECK (hour BETWEEN 0 AND 23),
    minute      INTEGER NOT NULL DEFAULT 0 CHECK (minute BETWEEN 0 AND 59),
    weekdays    TEXT,
    next_run_at TEXT,
    last_run_at TEXT,
    updated_by  INTEGER REFERENCES people(id),
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tambon_code, kind)
);

CREATE INDEX tambon_reminder_times_kind ON tambon_reminder_times(kind, tambon_code);
