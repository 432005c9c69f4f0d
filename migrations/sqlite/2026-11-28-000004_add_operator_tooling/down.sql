-- Undoes add_operator_tooling.
DROP TABLE incident_notes;
ALTER TABLE check_ins DROP COLUMN handled_by;
ALTER TABLE check_ins DROP COLUMN handled_at;
ALTER TABLE prompts DROP COLUMN last_reminded_at;
ALTER TABLE prompts DROP COLUMN reminders_sent;
