-- The last successful `hrsync reconcile` per target: how many accounts it read (a later
-- run reading far fewer aborts: a failed read must never look like "everyone left") and
-- its count per status, exported by the worker as hrsync_reconcile_* metrics.
CREATE TABLE reconcile_runs (
    target         TEXT NOT NULL PRIMARY KEY,
    listed         BIGINT NOT NULL,
    counts         TEXT NOT NULL,
    finished_at_us BIGINT NOT NULL
);
