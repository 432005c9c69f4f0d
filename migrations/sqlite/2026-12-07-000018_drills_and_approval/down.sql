DROP INDEX incidents_pending;
ALTER TABLE incidents DROP COLUMN would_prompt;
ALTER TABLE incidents DROP COLUMN approved_at;
ALTER TABLE incidents DROP COLUMN approved_by;
ALTER TABLE incidents DROP COLUMN approval_expires_at;
ALTER TABLE incidents DROP COLUMN notify_contacts;
ALTER TABLE incidents DROP COLUMN exercise;
