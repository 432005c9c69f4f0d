ALTER TABLE refresh_tokens DROP COLUMN session_expires_at;
ALTER TABLE users DROP COLUMN sessions_valid_after;
