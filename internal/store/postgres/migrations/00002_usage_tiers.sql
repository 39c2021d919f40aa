-- Tiers, per-minute usage and the report log (DESIGN §6, §4 "LRS"). The same schema as the
-- SQLite store's 00002_usage_tiers.sql. Text that is compared or sorted uses the "C"
-- collation, so order is by bytes, as in SQLite (and as Usage cursors assume).

-- +goose Up

-- tiers is the editable tier table; a 0 quota, qps or reports_per_month means unlimited.
-- The seed rows are limits.DefaultTiers(). name has the default collation, like
-- api_keys.tier, which references it.
CREATE TABLE tiers (
    name              text             PRIMARY KEY CHECK (octet_length(name) BETWEEN 1 AND 64),
    monthly_quota     bigint           NOT NULL CHECK (monthly_quota >= 0),
    -- NaN sorts above Infinity in PostgreSQL, so "< Infinity" rejects both.
    qps               double precision NOT NULL CHECK (qps >= 0 AND qps < 'Infinity'),
    burst             bigint           NOT NULL CHECK (burst >= 0),
    min_wait_us       bigint           NOT NULL CHECK (min_wait_us >= 0),
    reports_per_month bigint           NOT NULL CHECK (reports_per_month >= 0)
);

INSERT INTO tiers (name, monthly_quota, qps, burst, min_wait_us, reports_per_month) VALUES
    ('free',         1000,   1.0,   5, 1000000, 10),
    ('pro',         50000,  10.0,  20,  100000, 10),
    ('enterprise', 500000,  50.0, 100,   20000, 10),
    ('unlimited',       0, 100.0, 200,   10000,  0),
    ('lifetime',        0, 100.0, 200,   10000,  0),
    ('partner',         0,   0.0,   0,       0,  0);

-- Every key's tier is a row of tiers (tiers are never deleted).
ALTER TABLE api_keys ADD CONSTRAINT api_keys_tier_fkey FOREIGN KEY (tier) REFERENCES tiers (name);

-- usage_minute holds the metered aggregates: requests of one key in one Unix minute
-- (floor(unix seconds / 60)) per protocol, endpoint, asset ('' for none) and outcome. The
-- primary key is also the index for a key's time range, in the order Usage pages by.
-- usage_minute_minute serves MonthUsage and PruneUsage, which select by time across keys.
CREATE TABLE usage_minute (
    key_id   text COLLATE "C" NOT NULL,
    minute   bigint           NOT NULL,
    protocol text COLLATE "C" NOT NULL,
    endpoint text COLLATE "C" NOT NULL,
    asset    text COLLATE "C" NOT NULL,
    outcome  text COLLATE "C" NOT NULL,
    count    bigint           NOT NULL CHECK (count > 0),
    PRIMARY KEY (key_id, minute, protocol, endpoint, asset, outcome)
);

CREATE INDEX usage_minute_minute ON usage_minute (minute);

-- report_log is the report service's own log, one row per LRS request.
CREATE TABLE report_log (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_id   text COLLATE "C" NOT NULL,
    at       timestamptz      NOT NULL,
    report   text             NOT NULL,
    format   text             NOT NULL,
    protocol text             NOT NULL,
    status   integer          NOT NULL
);

CREATE INDEX report_log_key_at ON report_log (key_id, at);

-- +goose Down
DROP TABLE report_log;
DROP TABLE usage_minute;
ALTER TABLE api_keys DROP CONSTRAINT api_keys_tier_fkey;
DROP TABLE tiers;
