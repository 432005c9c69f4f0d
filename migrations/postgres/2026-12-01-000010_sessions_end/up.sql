-- Sessions that can be ended. An access token issued (its `iat`, whole seconds) before the
-- second of `sessions_valid_after` is refused: a password change and "log out everywhere" set
-- it. NULL: every unexpired token of the account is valid.
ALTER TABLE users ADD COLUMN sessions_valid_after TIMESTAMP;
-- A refresh session (a login and every rotation of its token) ends at `session_expires_at`
-- however often it is renewed; each successor inherits it. Tokens made before this column have
-- their own expiry as their session's end.
ALTER TABLE refresh_tokens ADD COLUMN session_expires_at TIMESTAMP;
UPDATE refresh_tokens SET session_expires_at = expires_at;
