-- The success board (issue 15): a confirmed outcome the core team proposes as a success
-- story, published only once the village committee consents in chat (and chose a photo,
-- or none). What is published is a snapshot taken at consent: the plan item's title, the
-- outcome, households helped, the village's "what worked", the chosen photo; later edits
-- of the item change nothing public. Withdrawing consent takes it off at once.
-- status: proposed (asked, no answer yet) · published · declined · withdrawn.
CREATE TABLE stories (
    id                INTEGER PRIMARY KEY,
    item_id           INTEGER NOT NULL UNIQUE REFERENCES plan_items(id),
    village_code      TEXT NOT NULL REFERENCES areas(code),
    category          TEXT NOT NULL DEFAULT 'other',
    status            TEXT NOT NULL DEFAULT 'proposed'
                      CHECK (status IN ('proposed', 'published', 'declined', 'withdrawn')),
    proposed_by       INTEGER NOT NULL REFERENCES people(id),
    proposed_at       TEXT NOT NULL,
    title             TEXT NOT NULL DEFAULT '',
    approach          TEXT NOT NULL DEFAULT '',
    outcome           TEXT NOT NULL DEFAULT '',
    households_helped INTEGER NOT NULL DEFAULT 0,
    what_worked       TEXT NOT NULL DEFAULT '',
    photo_ref         TEXT,
    published_at      TEXT,
    updated_at        TEXT NOT NULL
);
CREATE INDEX stories_published ON stories(status, published_at);
CREATE INDEX stories_village ON stories(village_code, status);

-- Every consent decision of a village committee member: given, declined, withdrawn.
CREATE TABLE story_consents (
    id         INTEGER PRIMARY KEY,
    story_id   INTEGER NOT NULL REFERENCES stories(id),
    person_id  INTEGER NOT NULL REFERENCES people(id),
    decision   TEXT NOT NULL CHECK (decision IN ('given', 'declined', 'withdrawn')),
    photo_ref  TEXT,
    at         TEXT NOT NULL
);
CREATE INDEX story_consents_story ON story_consents(story_id, id);
