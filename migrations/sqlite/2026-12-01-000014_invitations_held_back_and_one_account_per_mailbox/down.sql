DROP INDEX users_email_canonical_key;
ALTER TABLE users DROP COLUMN email_canonical;
ALTER TABLE invitations DROP COLUMN emailed_at;
