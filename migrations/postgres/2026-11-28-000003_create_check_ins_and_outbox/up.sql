-- Check-ins (every answer, kept), each user's current answer per incident, the notification
-- outbox, idempotency keys and the addresses that unsubscribed.

-- Every answer ever given: the history.
CREATE TABLE check_ins (
    id          TEXT PRIMARY KEY NOT NULL,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- 'safe', 'not_in_area' or 'need_help'.
    status      TEXT NOT NULL,
    message     TEXT,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX check_ins_incident_user ON check_ins (incident_id, user_id, created_at);

-- The current answer of each user to each incident (what stats and lists read).
CREATE TABLE responses (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status      TEXT NOT NULL,
    message     TEXT,
    check_in_id TEXT NOT NULL,
    answered_at TIMESTAMP NOT NULL,
    PRIMARY KEY (incident_id, user_id)
);
CREATE INDEX responses_incident_status ON responses (incident_id, status);

-- The transactional outbox: written in the same transaction as what caused it, delivered by
-- the worker. A claim is a lease (state 'sending' until lease_until).
CREATE TABLE notifications (
    id              TEXT PRIMARY KEY NOT NULL,
    -- 'check_in' (to a contact) or 'prompt' (to a prompted user).
    kind            TEXT NOT NULL,
    recipient_email TEXT NOT NULL,
    recipient_name  TEXT,
    locale          TEXT NOT NULL,
    incident_id     TEXT REFERENCES incidents (id) ON DELETE CASCADE,
    -- The user the message is about; their erasure removes it.
    user_id         TEXT REFERENCES users (id) ON DELETE CASCADE,
    -- What the template needs (names, status, message, title, time). Never a location.
    payload         TEXT NOT NULL,
    -- 'queued', 'sending', 'retrying', 'sent', 'failed', 'suppressed' (unsubscribed) or
    -- 'dropped' (over the per-recipient hourly cap).
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_until     TIMESTAMP,
    last_error      TEXT,
    created_at      TIMESTAMP NOT NULL,
    sent_at         TIMESTAMP,
    -- At most one message per key: one per contact per (incident, user, status), one prompt
    -- email per (incident, user).
    dedupe_key      TEXT NOT NULL,
    CONSTRAINT notifications_dedupe_key UNIQUE (dedupe_key)
);
CREATE INDEX notifications_due ON notifications (state, next_attempt_at);
CREATE INDEX notifications_recipient ON notifications (recipient_email, created_at);
CREATE INDEX notifications_incident ON notifications (incident_id, state);

-- Idempotency-Key records, per user; the response is replayed for 24 h.
CREATE TABLE idempotency_keys (
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key             TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    -- Set when the first request finished; NULL while it runs.
    response_status INTEGER,
    response_body   TEXT,
    created_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, key)
);

-- Addresses that asked for no more email, whoever listed them.
CREATE TABLE suppressions (
    email      TEXT PRIMARY KEY NOT NULL,
    created_at TIMESTAMP NOT NULL
);
