-- API keys and the version counter Tables poll (DESIGN §6). Times are UTC text,
-- "2006-01-02T15:04:05.000000Z", so they sort and read as written.

-- +goose Up
CREATE TABLE api_keys (
    id         TEXT    PRIMARY KEY,
    prefix     TEXT    NOT NULL,
    key_hash   BLOB    NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    name       TEXT    NOT NULL DEFAULT '',
    tier       TEXT    NOT NULL,
    quota      INTEGER NOT NULL DEFAULT 0 CHECK (quota >= 0),
    revoked    INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
    created_at TEXT    NOT NULL,
    revoked_at TEXT
) STRICT;

CREATE INDEX api_keys_prefix ON api_keys (prefix);

-- meta holds named counters; keys_version is bumped in the same transaction as every change
-- to api_keys.
CREATE TABLE meta (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;

INSERT INTO meta (name, value) VALUES ('keys_version', 0);

-- +goose Down
DROP TABLE meta;
DROP TABLE api_keys;
