-- Corrections: a submission the core team returned for correction comes back, edited by
-- the village, as a new version of the same row (version 1 is the first one sent). The
-- earlier version's full values are kept in the audit log (action '<entity>.correct').
-- A review records which version it judged, so a later version is no longer waiting for
-- an answer to that review.
ALTER TABLE problems ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE forums ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE plan_items ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE progress_updates ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE lessons ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE reviews ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
