-- The corrections `hrsync reconcile --apply` published, one row per event and target it
-- corrects. The store, not the message, proves an event is a correction: a header anyone
-- can set must never lift the stale guard. A proven correction may re-assert the HR record
-- at the sequence already applied (never below it), and is diffed against the target's own
-- values rather than what hrsync last wrote (a hand edit is exactly what that misses).
-- `data_digest` binds the row to the event's `data`, so a look-alike with other values
-- is an ordinary event.
CREATE TABLE reconcile_corrections (
    event_id      TEXT NOT NULL,
    target        TEXT NOT NULL,
    employee_id   TEXT NOT NULL,
    sequence      BIGINT NOT NULL,
    data_digest   TEXT NOT NULL,
    actor         TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
    PRIMARY KEY (event_id, target)
);

-- Where an audited change came from: `hr` (the event stream) or `reconcile` (a proven
-- correction).
ALTER TABLE audit_log ADD COLUMN source TEXT NOT NULL DEFAULT 'hr';
