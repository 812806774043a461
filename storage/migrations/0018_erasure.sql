-- Erasure (PDPA s.33): a person asks in chat (a request row; the district and the admins
-- are told); an admin carries it out with `cercap-bot people erase PERSON_ID`. The person
-- row stays (the village's submissions still point at it) under a generic name, marked
-- with when it was erased; the audit log says who erased, when and why.
CREATE TABLE erasure_requests (
    id           INTEGER PRIMARY KEY,
    person_id    INTEGER NOT NULL REFERENCES people(id),
    channel      TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'done')),
    done_at      TEXT
);
CREATE INDEX erasure_requests_status ON erasure_requests(status, id);
ALTER TABLE people ADD COLUMN erased_at TEXT;

-- Retention (bot/housekeeping.py) and erasure find their rows through these.
CREATE INDEX IF NOT EXISTS inbox_failed ON inbox(received_at) WHERE status = 'failed';
CREATE INDEX IF NOT EXISTS outbox_created ON outbox(status, created_at);
CREATE INDEX IF NOT EXISTS audit_log_detail_age ON audit_log(at) WHERE detail IS NOT NULL;
CREATE INDEX IF NOT EXISTS identities_inactive ON identities(id)
    WHERE active = 0 OR person_id IS NULL;
CREATE INDEX IF NOT EXISTS problems_photo ON problems(photo_ref, created_at)
    WHERE photo_ref IS NOT NULL;
CREATE INDEX IF NOT EXISTS forums_photo ON forums(photo_ref, created_at)
    WHERE photo_ref IS NOT NULL;
CREATE INDEX IF NOT EXISTS progress_photo ON progress_updates(photo_ref, created_at)
    WHERE photo_ref IS NOT NULL;
CREATE INDEX IF NOT EXISTS stories_photo ON stories(photo_ref) WHERE photo_ref IS NOT NULL;
CREATE INDEX IF NOT EXISTS story_consents_photo ON story_consents(photo_ref)
    WHERE photo_ref IS NOT NULL;
CREATE INDEX IF NOT EXISTS problems_reporter ON problems(reporter_id);
CREATE INDEX IF NOT EXISTS forums_reporter ON forums(reporter_id);
CREATE INDEX IF NOT EXISTS progress_reporter ON progress_updates(reporter_id);
