-- Corrections of support requests: a request the TAO or the district returned to the
-- village comes back, edited by the village, as the next version of the same row, waiting
-- again at the desk that returned it (version 1 is the one first sent). The earlier
-- version's full values are kept in the audit log (action 'support_request.correct').
ALTER TABLE support_requests ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
