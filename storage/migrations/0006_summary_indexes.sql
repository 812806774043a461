-- Summaries (handlers/summaries.py, storage/summaries.py) read an area's rows by
-- village-code range and period. Each index holds every column its query reads, so a
-- tambon's summary seeks its own rows and never reads the rest of the nation's.
-- Problems by village, category and month (and the latest problem of a village).
CREATE INDEX IF NOT EXISTS problems_summary
    ON problems(village_code, created_at, category, households);
-- The nation's problems by category and month: one seek per (category, month), no sort.
CREATE INDEX IF NOT EXISTS problems_category ON problems(category, created_at, households);
-- Forums held in the period; the latest forum of a village (silent villages).
CREATE INDEX IF NOT EXISTS forums_summary ON forums(village_code, held_on, participants);
CREATE INDEX IF NOT EXISTS forums_village_created ON forums(village_code, created_at);
-- Plans overlapping the period, then their items.
CREATE INDEX IF NOT EXISTS plans_summary ON plans(village_code, period_start, period_end);
CREATE INDEX IF NOT EXISTS plan_items_summary
    ON plan_items(plan_id, status, approach, percent, end_on);
-- Outcomes confirmed in the period.
CREATE INDEX IF NOT EXISTS plan_items_outcome
    ON plan_items(village_code, outcome_confirmed_at, outcome_solved, households_helped)
    WHERE outcome_confirmed_at IS NOT NULL;
-- Support requests made in the period, and the items they ask for.
CREATE INDEX IF NOT EXISTS support_requests_summary
    ON support_requests(village_code, created_at, status, amount_requested, amount_granted,
                        item_id);
