-- Back to the foreign keys 2026-11-28-000002_create_incidents made. A prompt of a user or an
-- incident that no longer exists cannot be kept under them.
DELETE FROM prompts p WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = p.user_id)
    OR NOT EXISTS (SELECT 1 FROM incidents i WHERE i.id = p.incident_id);
ALTER TABLE prompts ADD CONSTRAINT prompts_incident_id_fkey
    FOREIGN KEY (incident_id) REFERENCES incidents (id) ON DELETE CASCADE;
ALTER TABLE prompts ADD CONSTRAINT prompts_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
