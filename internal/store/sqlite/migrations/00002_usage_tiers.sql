-- Tiers, per-minute usage and the report log (DESIGN §6, §4 "LRS"). The same schema as the
-- PostgreSQL store's 00002_usage_tiers.sql. Text compares and sorts by bytes (BINARY).

-- +goose Up

-- tiers is the editable tier table; a 0 quota, qps or reports_per_month means unlimited.
-- The seed rows are limits.DefaultTiers(). api_keys.tier does not reference it: SQLite adds
-- a foreign key only by rebuilding the table, so the store checks tiers itself.
CREATE TABLE tiers (
    name              TEXT    PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    monthly_quota     INTEGER NOT NULL CHECK (monthly_quota >= 0),
    qps               REAL    NOT NULL CHECK (qps >= 0),
    burst             INTEGER NOT NULL CHECK (burst >= 0),
    min_wait_us       INTEGER NOT NULL CHECK (min_wait_us >= 0),
    reports_per_month INTEGER NOT NULL CHECK (reports_per_month >= 0)
) STRICT;

INSERT INTO tiers (name, monthly_quota, qps, burst, min_wait_us, reports_per_month) VALUES
    ('free',         1000,   1.0,   5, 1000000, 10),
    ('pro',         50000,  10.0,  20,  100000, 10),
    ('enterprise', 500000,  50.0, 100,   20000, 10),
    ('unlimited',       0, 100.0, 200,   10000,  0),
    ('lifetime',        0, 100.0, 200,   10000,  0),
    ('partner',         0,   0.0,   0,       0,  0);

-- usage_minute holds the metered aggregates: requests of one key in one Unix minute
-- (floor(unix seconds / 60)) per protocol, endpoint, asset ('' for none) and outcome. The
-- primary key is also the index for a key's time range, in the order Usage pages by; the
-- table is clustered on it (WITHOUT ROWID). usage_minute_minute serves MonthUsage and
-- PruneUsage, which select by time across keys.
CREATE TABLE usage_minute (
    key_id   TEXT    NOT NULL,
    minute   INTEGER NOT NULL,
    protocol TEXT    NOT NULL,
    endpoint TEXT    NOT NULL,
    asset    TEXT    NOT NULL,
    outcome  TEXT    NOT NULL,
    count    INTEGER NOT NULL CHECK (count > 0),
    PRIMARY KEY (key_id, minute, protocol, endpoint, asset, outcome)
) STRICT, WITHOUT ROWID;

CREATE INDEX usage_minute_minute ON usage_minute (minute);

-- report_log is the report service's own log, one row per LRS request. at is UTC text,
-- "2006-01-02T15:04:05.000000Z", as in api_keys.
CREATE TABLE report_log (
    id       INTEGER PRIMARY KEY,
    key_id   TEXT    NOT NULL,
    at       TEXT    NOT NULL,
    report   TEXT    NOT NULL,
    format   TEXT    NOT NULL,
    protocol TEXT    NOT NULL,
    status   INTEGER NOT NULL
) STRICT;

CREATE INDEX report_log_key_at ON report_log (key_id, at);

-- +goose Down
DROP TABLE report_log;
DROP TABLE usage_minute;
DROP TABLE tiers;
