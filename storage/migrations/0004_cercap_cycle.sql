-- The CERCAP cycle (cabinet resolution §4, §6.1): forums, village crisis plans with
-- their items and three approaches, progress, support requests from village to TAO
-- to district, core-team reviews, lessons learned. Dates are ISO (YYYY-MM-DD),
-- instants UTC ISO, amounts whole baht.

CREATE TABLE forums (
    id                INTEGER PRIMARY KEY,
    village_code      TEXT NOT NULL REFERENCES areas(code),
    held_on           TEXT NOT NULL,
    participants      INTEGER NOT NULL CHECK (participants >= 1),
    groups_present    TEXT NOT NULL DEFAULT '[]',
    other_groups      TEXT NOT NULL DEFAULT '',
    notes             TEXT NOT NULL DEFAULT '',
    photo_ref         TEXT,
    photo_platform_id TEXT,
    reporter_id       INTEGER NOT NULL REFERENCES people(id),
    created_at        TEXT NOT NULL,
    review_status     TEXT NOT NULL DEFAULT 'new'
);
CREATE INDEX forums_village ON forums(village_code, held_on);

CREATE TABLE forum_problems (
    forum_id   INTEGER NOT NULL REFERENCES forums(id),
    problem_id INTEGER NOT NULL REFERENCES problems(id),
    PRIMARY KEY (forum_id, problem_id)
) WITHOUT ROWID;

CREATE TABLE plans (
    id            INTEGER PRIMARY KEY,
    village_code  TEXT NOT NULL REFERENCES areas(code),
    period_start  TEXT NOT NULL,
    period_end    TEXT NOT NULL CHECK (period_end >= period_start),
    status        TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    previous_id   INTEGER REFERENCES plans(id),
    created_by    INTEGER NOT NULL REFERENCES people(id),
    created_at    TEXT NOT NULL,
    closed_at     TEXT,
    review_status TEXT NOT NULL DEFAULT 'new'
);
CREATE UNIQUE INDEX plans_one_open_per_village ON plans(village_code) WHERE status = 'open';

CREATE TABLE plan_items (
    id                      INTEGER PRIMARY KEY,
    plan_id                 INTEGER NOT NULL REFERENCES plans(id),
    village_code            TEXT NOT NULL REFERENCES areas(code),
    title                   TEXT NOT NULL,
    approach                TEXT NOT NULL CHECK (approach IN ('self_reliance', 'cooperation', 'external_support')),
    partner                 TEXT NOT NULL DEFAULT '',
    budget_needed           INTEGER NOT NULL DEFAULT 0 CHECK (budget_needed >= 0),
    own_money               INTEGER NOT NULL DEFAULT 0 CHECK (own_money >= 0),
    own_labour              TEXT NOT NULL DEFAULT '',
    start_on                TEXT NOT NULL,
    end_on                  TEXT NOT NULL CHECK (end_on >= start_on),
    responsible             TEXT NOT NULL,
    status                  TEXT NOT NULL DEFAULT 'not_started'
                            CHECK (status IN ('not_started', 'in_progress', 'done', 'stalled', 'withdrawn')),
    percent                 INTEGER NOT NULL DEFAULT 0 CHECK (percent BETWEEN 0 AND 100),
    stalled_reason          TEXT,
    withdrawn_reason        TEXT,
    outcome_solved          TEXT CHECK (outcome_solved IN ('yes', 'partly', 'no')),
    households_helped       INTEGER CHECK (households_helped >= 0),
    outcome_confirmed_at    TEXT,
    carried_from            INTEGER REFERENCES plan_items(id),
    created_by              INTEGER NOT NULL REFERENCES people(id),
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL,
    review_status           TEXT NOT NULL DEFAULT 'new'
);
CREATE INDEX plan_items_plan ON plan_items(plan_id, id);
CREATE INDEX plan_items_village ON plan_items(village_code, status, end_on);

CREATE TABLE plan_item_problems (
    item_id    INTEGER NOT NULL REFERENCES plan_items(id),
    problem_id INTEGER NOT NULL REFERENCES problems(id),
    PRIMARY KEY (item_id, problem_id)
) WITHOUT ROWID;

CREATE TABLE progress_updates (
    id                INTEGER PRIMARY KEY,
    item_id           INTEGER NOT NULL REFERENCES plan_items(id),
    village_code      TEXT NOT NULL REFERENCES areas(code),
    status            TEXT NOT NULL,
    percent           INTEGER NOT NULL CHECK (percent BETWEEN 0 AND 100),
    note              TEXT NOT NULL DEFAULT '',
    photo_ref         TEXT,
    photo_platform_id TEXT,
    reporter_id       INTEGER NOT NULL REFERENCES people(id),
    created_at        TEXT NOT NULL,
    review_status     TEXT NOT NULL DEFAULT 'new'
);
CREATE INDEX progress_item ON progress_updates(item_id, created_at);
CREATE INDEX progress_village ON progress_updates(village_code, created_at);

-- level: who holds the request now (the TAO of the tambon, or the district).
CREATE TABLE support_requests (
    id               INTEGER PRIMARY KEY,
    item_id          INTEGER NOT NULL REFERENCES plan_items(id),
    village_code     TEXT NOT NULL REFERENCES areas(code),
    amount_requested INTEGER NOT NULL CHECK (amount_requested > 0),
    purpose          TEXT NOT NULL,
    level            TEXT NOT NULL DEFAULT 'tambon' CHECK (level IN ('tambon', 'district')),
    status           TEXT NOT NULL DEFAULT 'submitted'
                     CHECK (status IN ('submitted', 'funded', 'forwarded', 'returned')),
    amount_granted   INTEGER CHECK (amount_granted >= 0),
    decided_by       INTEGER REFERENCES people(id),
    decided_at       TEXT,
    reason           TEXT,
    tao_note         TEXT,
    created_by       INTEGER NOT NULL REFERENCES people(id),
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX support_requests_queue ON support_requests(level, status, village_code);
CREATE INDEX support_requests_item ON support_requests(item_id);

CREATE TABLE support_request_events (
    id          INTEGER PRIMARY KEY,
    request_id  INTEGER NOT NULL REFERENCES support_requests(id),
    at          TEXT NOT NULL,
    person_id   INTEGER REFERENCES people(id),
    from_status TEXT,
    to_status   TEXT NOT NULL,
    level       TEXT NOT NULL,
    amount      INTEGER,
    note        TEXT
);
CREATE INDEX support_request_events_request ON support_request_events(request_id, id);

-- A core team's verdict on a submission, and the village's answers to it.
CREATE TABLE reviews (
    id          INTEGER PRIMARY KEY,
    entity      TEXT NOT NULL CHECK (entity IN ('problem', 'forum', 'plan_item', 'progress', 'lesson')),
    entity_id   INTEGER NOT NULL,
    village_code TEXT NOT NULL REFERENCES areas(code),
    reviewer_id INTEGER NOT NULL REFERENCES people(id),
    verdict     TEXT NOT NULL CHECK (verdict IN ('approved', 'needs_attention', 'returned')),
    comment     TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL
);
CREATE INDEX reviews_entity ON reviews(entity, entity_id);
CREATE INDEX reviews_village ON reviews(village_code, id);

CREATE TABLE review_replies (
    id         INTEGER PRIMARY KEY,
    review_id  INTEGER NOT NULL REFERENCES reviews(id),
    person_id  INTEGER NOT NULL REFERENCES people(id),
    text       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX review_replies_review ON review_replies(review_id, id);

CREATE TABLE lessons (
    id            INTEGER PRIMARY KEY,
    plan_id       INTEGER NOT NULL REFERENCES plans(id),
    village_code  TEXT NOT NULL REFERENCES areas(code),
    what_worked   TEXT NOT NULL,
    what_did_not  TEXT NOT NULL,
    next_steps    TEXT NOT NULL,
    created_by    INTEGER NOT NULL REFERENCES people(id),
    created_at    TEXT NOT NULL,
    review_status TEXT NOT NULL DEFAULT 'new'
);

-- Per-tambon settings: requests above this amount go to the district at once.
CREATE TABLE tambon_settings (
    tambon_code            TEXT PRIMARY KEY REFERENCES areas(code),
    auto_forward_threshold INTEGER CHECK (auto_forward_threshold > 0),
    updated_by             INTEGER REFERENCES people(id),
    updated_at             TEXT NOT NULL
);
