-- The public web site (issue 15) reads, per village of an area, whether lessons were drawn
-- in the period (the Implementation Status funnel), and the problems with a shared location
-- in the period (the map's markers). Each index holds every column its query reads.
CREATE INDEX IF NOT EXISTS lessons_village ON lessons(village_code, created_at);
CREATE INDEX IF NOT EXISTS problems_located
    ON problems(village_code, created_at, category, latitude, longitude)
    WHERE latitude IS NOT NULL AND longitude IS NOT NULL;
