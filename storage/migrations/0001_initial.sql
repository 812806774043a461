-- Areas: nation → learning network → province → district → tambon → village.
-- Codes are DOPA codes (province 2 digits, district 4, tambon 6, village 8 =
-- tambon + หมู่ที่); the nation is 'TH' and learning networks are 'LN01'..'LN14'.
CREATE TABLE areas (
    code        TEXT PRIMARY KEY,
    level       TEXT NOT NULL CHECK (level IN ('nation', 'network', 'province', 'district', 'tambon', 'village')),
    parent_code TEXT REFERENCES areas(code),
    name_th     TEXT NOT NULL,
    name_en     TEXT NOT NULL DEFAULT '',
    village_no  INTEGER,
    hub_code    TEXT
);
CREATE INDEX areas_parent ON areas(parent_code, code);

CREATE TABLE people (
    id           INTEGER PRIMARY KEY,
    display_name TEXT NOT NULL DEFAULT '',
    language     TEXT NOT NULL DEFAULT 'th' CHECK (language IN ('th', 'en')),
    created_at   TEXT NOT NULL
);

-- One row per (channel, platform user). It exists before the person joins, so
-- the join conversation and the invite throttle have something to hang on.
CREATE TABLE identities (
    id               INTEGER PRIMARY KEY,
    channel          TEXT NOT NULL,
    platform_user_id TEXT NOT NULL,
    chat_id          TEXT NOT NULL,
    person_id        INTEGER REFERENCES people(id),
    active           INTEGER NOT NULL DEFAULT 1,
    created_at       TEXT NOT NULL,
    UNIQUE (channel, platform_user_id)
);
CREATE INDEX identities_person ON identities(person_id);

CREATE TABLE invites (
    id         INTEGER PRIMARY KEY,
    code       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    area_code  TEXT NOT NULL REFERENCES areas(code),
    issued_by  INTEGER REFERENCES people(id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    max_uses   INTEGER NOT NULL DEFAULT 1 CHECK (max_uses >= 1),
    uses       INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE invite_attempts (
    id           INTEGER PRIMARY KEY,
    identity_id  INTEGER NOT NULL REFERENCES identities(id),
    attempted_at TEXT NOT NULL,
    success      INTEGER NOT NULL
);
CREATE INDEX invite_attempts_identity ON invite_attempts(identity_id, attempted_at);

CREATE TABLE role_grants (
    id         INTEGER PRIMARY KEY,
    person_id  INTEGER NOT NULL REFERENCES people(id),
    role       TEXT NOT NULL CHECK (role IN ('village_committee', 'core_team', 'tao', 'district', 'viewer', 'admin')),
    area_code  TEXT NOT NULL REFERENCES areas(code),
    invite_id  INTEGER REFERENCES invites(id),
    granted_at TEXT NOT NULL,
    UNIQUE (person_id, role, area_code)
);
CREATE INDEX role_grants_area ON role_grants(area_code, role);

CREATE TABLE problems (
    id            INTEGER PRIMARY KEY,
    village_code  TEXT NOT NULL REFERENCES areas(code),
    category      TEXT NOT NULL,
    description   TEXT NOT NULL,
    households    INTEGER NOT NULL CHECK (households >= 0),
    severity      INTEGER NOT NULL CHECK (severity BETWEEN 1 AND 4),
    photo_ref     TEXT,
    latitude      REAL,
    longitude     REAL,
    reporter_id   INTEGER NOT NULL REFERENCES people(id),
    created_at    TEXT NOT NULL,
    review_status TEXT NOT NULL DEFAULT 'new'
);
CREATE INDEX problems_village ON problems(village_code, created_at);

-- Where each identity's conversation stands. `seq` grows with every question
-- asked, and buttons carry it, so a press on an old message is recognised.
CREATE TABLE conversations (
    identity_id INTEGER PRIMARY KEY REFERENCES identities(id),
    flow        TEXT,
    step        TEXT,
    data        TEXT NOT NULL DEFAULT '{}',
    history     TEXT NOT NULL DEFAULT '[]',
    seq         INTEGER NOT NULL DEFAULT 0,
    updated_at  TEXT NOT NULL
);

-- Unfinished work kept when a conversation is left (menu) or closed for idleness.
CREATE TABLE drafts (
    identity_id INTEGER NOT NULL REFERENCES identities(id),
    flow        TEXT NOT NULL,
    step        TEXT NOT NULL,
    data        TEXT NOT NULL,
    history     TEXT NOT NULL DEFAULT '[]',
    saved_at    TEXT NOT NULL,
    PRIMARY KEY (identity_id, flow)
);

CREATE TABLE processed_updates (
    channel      TEXT NOT NULL,
    update_id    TEXT NOT NULL,
    processed_at TEXT NOT NULL,
    PRIMARY KEY (channel, update_id)
) WITHOUT ROWID;

-- Every message the bot sends leaves through here. priority: 0 live reply,
-- 1 notification, 2 bulk. retry_key is sent as LINE's X-Line-Retry-Key.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    channel         TEXT NOT NULL,
    chat_id         TEXT NOT NULL,
    person_id       INTEGER REFERENCES people(id),
    priority        INTEGER NOT NULL,
    payload         TEXT NOT NULL,
    reply_token     TEXT,
    retry_key       TEXT NOT NULL,
    dedupe_key      TEXT UNIQUE,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT
);
CREATE INDEX outbox_due ON outbox(status, channel, priority, next_attempt_at, id);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    person_id  INTEGER REFERENCES people(id),
    action     TEXT NOT NULL,
    entity     TEXT,
    entity_id  TEXT,
    from_state TEXT,
    to_state   TEXT,
    reason     TEXT,
    detail     TEXT
);
CREATE INDEX audit_log_entity ON audit_log(entity, entity_id);
