-- One row the worker writes to prove the store can record: at start-up (a worker must not
-- consume from a store it cannot write) and while the store is failing, until it heals.
CREATE TABLE store_probe (
    id    BIGINT NOT NULL PRIMARY KEY,
    at_us BIGINT NOT NULL
);
