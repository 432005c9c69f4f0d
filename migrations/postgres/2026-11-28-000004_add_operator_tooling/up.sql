-- Operator tooling: reminders to users who have not answered, and need-help triage.

-- How many reminders each prompted user got, and when the last one went.
ALTER TABLE prompts ADD COLUMN reminders_sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE prompts ADD COLUMN last_reminded_at TIMESTAMP;

-- An operator marks a need_help answer as handled; a later answer starts untriaged again.
ALTER TABLE check_ins ADD COLUMN handled_at TIMESTAMP;
-- The operator's email, as the audit log keeps it.
ALTER TABLE check_ins ADD COLUMN handled_by TEXT;

-- Why an operator resolved (or retracted) an incident, in their words. Its own table: diesel
-- declares at most 16 columns a table without a costly build feature, and incidents has 16.
CREATE TABLE incident_notes (
    incident_id TEXT PRIMARY KEY NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    note        TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL
);

-- The people list looks up each user's last answer before a time: the id breaks ties in order.
DROP INDEX check_ins_incident_user;
CREATE INDEX check_ins_incident_user ON check_ins (incident_id, user_id, created_at, id);
