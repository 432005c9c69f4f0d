-- Undoes add_operator_tooling.
DROP INDEX check_ins_incident_user;
CREATE INDEX check_ins_incident_user ON check_ins (incident_id, user_id, created_at);
DROP TABLE incident_notes;
ALTER TABLE check_ins DROP COLUMN handled_by;
ALTER TABLE check_ins DROP COLUMN handled_at;
ALTER TABLE prompts DROP COLUMN last_reminded_at;
ALTER TABLE prompts DROP COLUMN reminders_sent;
