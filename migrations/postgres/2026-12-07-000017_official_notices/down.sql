ALTER TABLE incident_summaries ADD COLUMN emails_queued BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incident_summaries ADD COLUMN emails_sending BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incident_summaries ADD COLUMN emails_retrying BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incident_summaries ADD COLUMN emails_sent BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incident_summaries ADD COLUMN emails_failed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incident_summaries ADD COLUMN emails_suppressed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incident_summaries ADD COLUMN emails_dropped BIGINT NOT NULL DEFAULT 0;
UPDATE incident_summaries SET
    emails_queued = COALESCE((emails::json->>'queued')::bigint, 0),
    emails_sending = COALESCE((emails::json->>'sending')::bigint, 0),
    emails_retrying = COALESCE((emails::json->>'retrying')::bigint, 0),
    emails_sent = COALESCE((emails::json->>'sent')::bigint, 0),
    emails_failed = COALESCE((emails::json->>'failed')::bigint, 0),
    emails_suppressed = COALESCE((emails::json->>'suppressed')::bigint, 0),
    emails_dropped = COALESCE((emails::json->>'dropped')::bigint, 0);
ALTER TABLE incident_summaries DROP COLUMN emails;
DROP INDEX notifications_incident;
CREATE INDEX notifications_incident ON notifications (incident_id, state);
DROP INDEX notifications_due_notices;
DROP TABLE incident_notices;
