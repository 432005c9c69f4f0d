ALTER TABLE incident_summaries ADD COLUMN emails_queued BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incident_summaries ADD COLUMN emails_sending BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incident_summaries ADD COLUMN emails_retrying BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incident_summaries ADD COLUMN emails_sent BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incident_summaries ADD COLUMN emails_failed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incident_summaries ADD COLUMN emails_suppressed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incident_summaries ADD COLUMN emails_dropped BIGINT NOT NULL DEFAULT 0;
UPDATE incident_summaries SET
    emails_queued = COALESCE(json_extract(emails, '$.queued'), 0),
    emails_sending = COALESCE(json_extract(emails, '$.sending'), 0),
    emails_retrying = COALESCE(json_extract(emails, '$.retrying'), 0),
    emails_sent = COALESCE(json_extract(emails, '$.sent'), 0),
    emails_failed = COALESCE(json_extract(emails, '$.failed'), 0),
    emails_suppressed = COALESCE(json_extract(emails, '$.suppressed'), 0),
    emails_dropped = COALESCE(json_extract(emails, '$.dropped'), 0);
ALTER TABLE incident_summaries DROP COLUMN emails;
DROP INDEX notifications_incident;
CREATE INDEX notifications_incident ON notifications (incident_id, state);
DROP INDEX notifications_due_notices;
DROP TABLE incident_notices;
