-- Accounts the creation guard let hrsync create, counted over its rolling window: a
-- broken HR feed must not create thousands of accounts. One row per event and target.
CREATE TABLE creation_admissions (
    event_id    TEXT NOT NULL,
    target      TEXT NOT NULL,
    employee_id TEXT NOT NULL,
    at_us       BIGINT NOT NULL,
    PRIMARY KEY (event_id, target)
);
CREATE INDEX creation_admissions_at ON creation_admissions (at_us);
