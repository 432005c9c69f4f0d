-- Accounts: users, their latest location, their contacts, refresh tokens and failed logins.
-- Ids are UUID strings; timestamps are UTC. The SQLite twin has the same shape (tests/api/postgres_only/schema_twins.rs checks it).

CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    -- Normalised (trimmed, lower-cased) so that uniqueness means one account per mailbox.
    email         TEXT NOT NULL,
    -- argon2id PHC string; never leaves the server.
    password_hash TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    locale        TEXT NOT NULL,
    -- 'user' < 'operator' < 'admin'; each role includes the ones before it.
    role          TEXT NOT NULL DEFAULT 'user',
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email)
);

-- Only the latest fix per user is kept, never a history.
CREATE TABLE user_locations (
    user_id     TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    lat         DOUBLE PRECISION NOT NULL,
    lon         DOUBLE PRECISION NOT NULL,
    accuracy_m  DOUBLE PRECISION,
    recorded_at TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
-- Activation selects by bounding box first.
CREATE INDEX user_locations_lat_lon ON user_locations (lat, lon);

CREATE TABLE contacts (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL,
    locale     TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    CONSTRAINT contacts_user_email_key UNIQUE (user_id, email)
);

-- Refresh tokens are stored as SHA-256 hashes. A family is one login's chain of rotations:
-- reusing a rotated token revokes the whole family.
CREATE TABLE refresh_tokens (
    id          TEXT PRIMARY KEY NOT NULL,
    family_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    used_at     TIMESTAMP,
    revoked_at  TIMESTAMP,
    created_at  TIMESTAMP NOT NULL,
    CONSTRAINT refresh_tokens_hash_key UNIQUE (token_hash)
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- Failed logins, by account (normalised email) and by client IP, for throttling.
CREATE TABLE login_failures (
    id           TEXT PRIMARY KEY NOT NULL,
    scope        TEXT NOT NULL,
    subject      TEXT NOT NULL,
    attempted_at TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_lookup ON login_failures (scope, subject, attempted_at);
