-- Incidents, the prompts they create, and the audit log of operator actions.

CREATE TABLE incidents (
    id                 TEXT PRIMARY KEY NOT NULL,
    title              TEXT NOT NULL,
    description        TEXT,
    -- The area as validated GeoJSON (or our Circle), exactly as clients see it.
    area               TEXT NOT NULL,
    -- 'active' until resolved by an operator or by expiry.
    status             TEXT NOT NULL,
    created_by         TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at         TIMESTAMP NOT NULL,
    expires_at         TIMESTAMP,
    resolved_at        TIMESTAMP,
    resolved_by        TEXT REFERENCES users (id) ON DELETE SET NULL,
    -- 'resolved' (by an operator) or 'expired'.
    resolution         TEXT,
    -- Locations recorded before this are too old to prompt (activation time - staleness).
    location_cutoff    TIMESTAMP NOT NULL,
    -- Fan-out progress: users are visited in user_id order; the cursor is the last one done,
    -- committed with the prompts of its chunk, so a restart continues where it stopped.
    fanout_cursor      TEXT,
    fanout_done        BOOLEAN NOT NULL DEFAULT FALSE,
    fanout_prompts     BIGINT NOT NULL DEFAULT 0,
    -- One worker at a time holds an incident's fan-out, until this time.
    fanout_lease_until TIMESTAMP
);
CREATE INDEX incidents_status_created ON incidents (status, created_at);
CREATE INDEX incidents_created ON incidents (created_at, id);

-- One prompt per user and incident, ever: the primary key is what makes fan-out and late
-- arrivals idempotent.
CREATE TABLE prompts (
    incident_id  TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- 'activation' (fan-out) or 'arrival' (a location update entered the area later).
    source       TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    closed_at    TIMESTAMP,
    -- 'answered' or 'resolved'.
    closed_reason TEXT,
    PRIMARY KEY (incident_id, user_id)
);
CREATE INDEX prompts_user_open ON prompts (user_id, closed_at);

-- Who did what, when, and to which incident. No foreign keys: the record outlives accounts.
CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY NOT NULL,
    at          TIMESTAMP NOT NULL,
    actor_id    TEXT,
    actor_email TEXT,
    action      TEXT NOT NULL,
    incident_id TEXT,
    details     TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at, id);
