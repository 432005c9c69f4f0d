-- Retention (issue 16). An incident's per-person rows (prompts, check-ins, current answers) and
-- its outbox rows are deleted some days after it ended; its counts are kept here first, so that
-- its stats still answer. Written once, before the first row is deleted, by whichever
-- housekeeping process gets there first (the primary key decides); `purged_at` is set once
-- every row is gone.
CREATE TABLE incident_summaries (
    incident_id        TEXT PRIMARY KEY NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    prompted           BIGINT NOT NULL,
    safe               BIGINT NOT NULL,
    not_in_area        BIGINT NOT NULL,
    need_help          BIGINT NOT NULL,
    need_help_handled  BIGINT NOT NULL,
    no_response        BIGINT NOT NULL,
    -- Every email of the incident (prompts, reminders, contacts' emails) by state.
    emails_queued      BIGINT NOT NULL,
    emails_sending     BIGINT NOT NULL,
    emails_retrying    BIGINT NOT NULL,
    emails_sent        BIGINT NOT NULL,
    emails_failed      BIGINT NOT NULL,
    emails_suppressed  BIGINT NOT NULL,
    emails_dropped     BIGINT NOT NULL,
    summarized_at      TIMESTAMP NOT NULL,
    purged_at          TIMESTAMP
);
-- Housekeeping deletes stale locations and old idempotency keys by age.
CREATE INDEX user_locations_recorded ON user_locations (recorded_at);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
