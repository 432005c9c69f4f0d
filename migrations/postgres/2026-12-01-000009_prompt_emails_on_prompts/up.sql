-- A prompt's first email is carried by the prompt row itself instead of an outbox row of its
-- own: the fan-out writes one row per person, and delivery builds each email from the prompt,
-- its user and its incident when it sends it. The columns mirror the outbox's: state ('queued',
-- 'sending', 'retrying', 'sent', 'failed', 'suppressed'), attempts, when it is next due, the
-- lease of the worker sending it, the last error and when it was sent. NULL state: the prompt
-- has no email of its own (older prompts, whose email is an outbox row, and the prompts made
-- when someone answers without having been prompted).
ALTER TABLE prompts ADD COLUMN email_state TEXT;
ALTER TABLE prompts ADD COLUMN email_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE prompts ADD COLUMN email_next_at TIMESTAMP;
ALTER TABLE prompts ADD COLUMN email_lease_until TIMESTAMP;
ALTER TABLE prompts ADD COLUMN email_error TEXT;
ALTER TABLE prompts ADD COLUMN email_sent_at TIMESTAMP;
-- Delivery's claims walk these, as the outbox's own partial indexes.
CREATE INDEX prompts_email_due ON prompts (email_next_at) WHERE email_state IN ('queued', 'retrying');
CREATE INDEX prompts_email_lease ON prompts (email_lease_until) WHERE email_state = 'sending';
