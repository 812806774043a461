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
