-- Messages hrsync holds back durably instead of applying now: future-dated changes
-- ('scheduled', released when due) and deprovisioning stopped by the mass-deprovision guard
-- ('staged', released or discarded by an operator). The body is the event as a structured
-- CloudEvent, republished to the work exchange on release.
CREATE TABLE held_messages (
    event_id         TEXT NOT NULL,
    kind             TEXT NOT NULL,
    employee_id      TEXT NOT NULL,
    sequence         BIGINT NOT NULL,
    action           TEXT NOT NULL,
    due_at_us        BIGINT NOT NULL,
    body             TEXT NOT NULL,
    status           TEXT NOT NULL,
    claimed_until_us BIGINT,
    created_at_us    BIGINT NOT NULL,
    decided_by       TEXT,
    decided_at_us    BIGINT,
    PRIMARY KEY (event_id, kind)
);
CREATE INDEX held_messages_due ON held_messages (kind, status, due_at_us);
CREATE INDEX held_messages_employee ON held_messages (employee_id, kind, status);

-- Leavers let through by the mass-deprovision guard, counted over its rolling window.
CREATE TABLE deprovision_admissions (
    event_id    TEXT NOT NULL PRIMARY KEY,
    employee_id TEXT NOT NULL,
    at_us       BIGINT NOT NULL
);
CREATE INDEX deprovision_admissions_at ON deprovision_admissions (at_us);
