-- Named settings. admin_key_sha256 is the SHA-256 of the admin credential (--admin-key):
-- only its hash is stored. The same schema as the PostgreSQL store's 00003_settings.sql.

-- +goose Up
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

-- +goose Down
DROP TABLE settings;
