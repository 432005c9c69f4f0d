DROP INDEX prompts_email_lease;
DROP INDEX prompts_email_due;
ALTER TABLE prompts DROP COLUMN email_sent_at;
ALTER TABLE prompts DROP COLUMN email_error;
ALTER TABLE prompts DROP COLUMN email_lease_until;
ALTER TABLE prompts DROP COLUMN email_next_at;
ALTER TABLE prompts DROP COLUMN email_attempts;
ALTER TABLE prompts DROP COLUMN email_state;
