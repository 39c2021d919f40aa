-- API keys and the version counter Tables poll (DESIGN §6). The same schema as the SQLite
-- store's 00001_api_keys.sql. Times are timestamptz (microsecond precision). Text that is
-- compared or sorted (id, prefix) uses the "C" collation, so order and prefix matching are by
-- bytes, as in SQLite, whatever the database's collation.

-- +goose Up
CREATE TABLE api_keys (
    id         text COLLATE "C" PRIMARY KEY,
    prefix     text COLLATE "C" NOT NULL,
    key_hash   bytea            NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
    name       text             NOT NULL DEFAULT '',
    tier       text             NOT NULL,
    quota      bigint           NOT NULL DEFAULT 0 CHECK (quota >= 0),
    revoked    boolean          NOT NULL DEFAULT false,
    created_at timestamptz      NOT NULL,
    revoked_at timestamptz
);

-- With the "C" collation, starts_with(prefix, $1) can use this index (PostgreSQL 15+).
CREATE INDEX api_keys_prefix ON api_keys (prefix);

-- meta holds named counters; keys_version is bumped in the same transaction as every change
-- to api_keys.
CREATE TABLE meta (
    name  text   PRIMARY KEY,
    value bigint NOT NULL
);

INSERT INTO meta (name, value) VALUES ('keys_version', 0);

-- +goose Down
DROP TABLE meta;
DROP TABLE api_keys;
