-- Named settings. admin_key_sha256 is the SHA-256 of the admin credential (--admin-key):
-- only its hash is stored. The same schema as the SQLite store's 00003_settings.sql.

-- +goose Up
CREATE TABLE settings (
    name  text  PRIMARY KEY,
    value bytea NOT NULL
);

-- +goose Down
DROP TABLE settings;
