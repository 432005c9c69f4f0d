-- Issue 19: what operators tell the people of an incident after the prompt.
--
-- A notice is an official update, the all clear (a resolution with notify) or the retraction of
-- an alert sent in error. Its emails are queued by a background walk over the incident's
-- prompts (and, for a retraction, over the contacts' check-in emails already sent), a chunk at
-- a time: `walk_cursor` is where it stopped, so a crash resumes there, and each email's dedupe
-- key (`notice.<id>.<recipient>`) keeps a chunk written twice from emailing anyone twice.
CREATE TABLE incident_notices (
    id               TEXT PRIMARY KEY NOT NULL,
    incident_id      TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    -- update | all_clear | retraction (domain::NoticeKind)
    kind             TEXT NOT NULL,
    -- The operator's words (the retraction's reason; empty for a plain all clear).
    text             TEXT NOT NULL,
    urgent           BOOLEAN NOT NULL,
    -- Whether it is emailed: an update is not when another was emailed for the same incident
    -- in the last 5 minutes, unless it is urgent.
    emailed          BOOLEAN NOT NULL,
    created_by       TEXT,
    created_at       TIMESTAMP NOT NULL,
    walk_cursor      TEXT,
    walk_done        BOOLEAN NOT NULL,
    walk_lease_until TIMESTAMP,
    walk_queued      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX incident_notices_by_incident ON incident_notices (incident_id, created_at, id);
CREATE INDEX incident_notices_walking ON incident_notices (created_at) WHERE walk_done = 0;

-- The notices lane (domain::Lane::Notices), claimed after the emails prompts carry.
CREATE INDEX notifications_due_notices ON notifications (next_attempt_at)
    WHERE state IN ('queued', 'retrying') AND kind IN ('official_update', 'all_clear', 'retraction');

-- A retraction walks the contacts' check-in emails already sent, in id order: the incident's
-- index grows the id, so each chunk starts where the last one stopped instead of sorting them all.
DROP INDEX notifications_incident;
CREATE INDEX notifications_incident ON notifications (incident_id, state, id);

-- An email not sent because its incident ended first is `cancelled`, a new state. The kept
-- counts of emails become one JSON object by state (`{"sent": 12, ...}`) instead of a column a
-- state: diesel declares at most 16 columns a table, and this one had 16.
ALTER TABLE incident_summaries ADD COLUMN emails TEXT NOT NULL DEFAULT '{}';
UPDATE incident_summaries SET emails = json_object(
    'queued', emails_queued, 'sending', emails_sending, 'retrying', emails_retrying,
    'sent', emails_sent, 'failed', emails_failed, 'suppressed', emails_suppressed,
    'dropped', emails_dropped);
ALTER TABLE incident_summaries DROP COLUMN emails_queued;
ALTER TABLE incident_summaries DROP COLUMN emails_sending;
ALTER TABLE incident_summaries DROP COLUMN emails_retrying;
ALTER TABLE incident_summaries DROP COLUMN emails_sent;
ALTER TABLE incident_summaries DROP COLUMN emails_failed;
ALTER TABLE incident_summaries DROP COLUMN emails_suppressed;
ALTER TABLE incident_summaries DROP COLUMN emails_dropped;
