-- Signing in to the web site from the chat (issue 15): a one-time link (single use, valid
-- 10 minutes) opens a session (8 hours). Only SHA-256 hashes of the tokens are stored: a
-- copy of the database opens no session. A link's row stays after use (used_at), so a
-- second use is refused, not taken for a new link.
CREATE TABLE sign_in_links (
    id          INTEGER PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    person_id   INTEGER NOT NULL REFERENCES people(id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);
CREATE INDEX sign_in_links_expiry ON sign_in_links(expires_at);

CREATE TABLE web_sessions (
    id          INTEGER PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    person_id   INTEGER NOT NULL REFERENCES people(id),
    link_id     INTEGER REFERENCES sign_in_links(id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    ended_at    TEXT
);
CREATE INDEX web_sessions_person ON web_sessions(person_id, expires_at);
