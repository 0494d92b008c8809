-- hrsync state store, SQLite flavour (the embedded single-replica default).
-- Why: idempotent processing (processed_events), stale-event and diff checks
-- (applied_state), leavers without ids (account_links), and an audit trail that never
-- holds personal data (audit_log). Times are microseconds since the Unix epoch, the same
-- as in the PostgreSQL flavour, so one set of queries serves both.

CREATE TABLE processed_events (
    event_id TEXT NOT NULL,
    target   TEXT NOT NULL,
    outcome  TEXT NOT NULL,
    at_us    BIGINT NOT NULL,
    PRIMARY KEY (event_id, target)
);
CREATE INDEX processed_events_at ON processed_events (at_us);

CREATE TABLE applied_state (
    employee_id   TEXT NOT NULL,
    target        TEXT NOT NULL,
    sequence      BIGINT NOT NULL,
    digest        TEXT NOT NULL,
    fields        TEXT NOT NULL, -- JSON object of the applied values
    event_id      TEXT NOT NULL,
    updated_at_us BIGINT NOT NULL,
    PRIMARY KEY (employee_id, target)
);

CREATE TABLE account_links (
    employee_id  TEXT NOT NULL,
    target       TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    linked_at_us BIGINT NOT NULL,
    PRIMARY KEY (employee_id, target)
);

CREATE TABLE audit_log (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id       TEXT NOT NULL,
    employee_id    TEXT NOT NULL,
    target         TEXT NOT NULL,
    fields_changed TEXT NOT NULL, -- JSON array of field names, never values
    values_digest  TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    actor          TEXT NOT NULL,
    at_us          BIGINT NOT NULL
);
CREATE INDEX audit_log_employee ON audit_log (employee_id, at_us);
CREATE INDEX audit_log_at ON audit_log (at_us);

-- Append-only: the database itself refuses edits and deletions.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
