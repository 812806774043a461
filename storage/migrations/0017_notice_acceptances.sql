-- Personal data (PDPA B.E. 2562, s.23): the privacy notice given to each person when they
-- join, before their first role is granted, with the version of its text. The bot keeps
-- people's data for the public task of the TAO and the district (s.24(4)), not on consent:
-- the notice is given, not asked. A row is written in the joining transaction before the
-- role grant (identity first: a new person has no person row yet; person_id is set as soon
-- as the person exists). A person is given the notice again when its version changes.
CREATE TABLE notice_acceptances (
    id          INTEGER PRIMARY KEY,
    identity_id INTEGER REFERENCES identities(id),
    person_id   INTEGER REFERENCES people(id),
    version     TEXT NOT NULL,
    channel     TEXT NOT NULL,
    accepted_at TEXT NOT NULL
);
CREATE INDEX notice_acceptances_person ON notice_acceptances(person_id, version);
CREATE INDEX notice_acceptances_identity ON notice_acceptances(identity_id, version);
