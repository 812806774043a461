-- PostgreSQL's half of 0021_inbox_handled.sql (see there): a nullable column, the status
-- CHECK widened (NOT VALID: every existing row passes the narrower one already, so no scan
-- under the table's lock) and the index housekeeping prunes by.
ALTER TABLE inbox ADD COLUMN handled_at timestamptz;
ALTER TABLE inbox DROP CONSTRAINT inbox_status_check;
ALTER TABLE inbox ADD CONSTRAINT inbox_status_check
    CHECK (status IN ('pending', 'failed', 'handled')) NOT VALID;
CREATE INDEX inbox_handled ON inbox(handled_at) WHERE status = 'handled';
