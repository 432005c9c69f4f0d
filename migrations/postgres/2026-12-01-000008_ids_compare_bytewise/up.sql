-- Ids are compared byte by byte (collation "C"), not by the database's locale: every B-tree
-- descent on an id called strcoll() (seen in the fan-out's and delivery's profiles), and a
-- locale's order is neither needed nor stable across libc upgrades. Byte order is also the order
-- Rust's String and SQLite use, so cursors mean the same on both backends.
ALTER TABLE audit_log ALTER COLUMN actor_id TYPE TEXT COLLATE "C";
ALTER TABLE audit_log ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE audit_log ALTER COLUMN incident_id TYPE TEXT COLLATE "C";
ALTER TABLE check_ins ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE check_ins ALTER COLUMN incident_id TYPE TEXT COLLATE "C";
ALTER TABLE check_ins ALTER COLUMN user_id TYPE TEXT COLLATE "C";
ALTER TABLE contacts ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE contacts ALTER COLUMN user_id TYPE TEXT COLLATE "C";
ALTER TABLE idempotency_keys ALTER COLUMN user_id TYPE TEXT COLLATE "C";
ALTER TABLE incident_notes ALTER COLUMN incident_id TYPE TEXT COLLATE "C";
ALTER TABLE incidents ALTER COLUMN created_by TYPE TEXT COLLATE "C";
ALTER TABLE incidents ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE incidents ALTER COLUMN resolved_by TYPE TEXT COLLATE "C";
ALTER TABLE login_failures ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE notifications ALTER COLUMN dedupe_key TYPE TEXT COLLATE "C";
ALTER TABLE notifications ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE notifications ALTER COLUMN incident_id TYPE TEXT COLLATE "C";
ALTER TABLE notifications ALTER COLUMN user_id TYPE TEXT COLLATE "C";
ALTER TABLE prompts ALTER COLUMN incident_id TYPE TEXT COLLATE "C";
ALTER TABLE prompts ALTER COLUMN user_id TYPE TEXT COLLATE "C";
ALTER TABLE refresh_tokens ALTER COLUMN family_id TYPE TEXT COLLATE "C";
ALTER TABLE refresh_tokens ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE refresh_tokens ALTER COLUMN user_id TYPE TEXT COLLATE "C";
ALTER TABLE responses ALTER COLUMN check_in_id TYPE TEXT COLLATE "C";
ALTER TABLE responses ALTER COLUMN incident_id TYPE TEXT COLLATE "C";
ALTER TABLE responses ALTER COLUMN user_id TYPE TEXT COLLATE "C";
ALTER TABLE user_locations ALTER COLUMN user_id TYPE TEXT COLLATE "C";
ALTER TABLE users ALTER COLUMN id TYPE TEXT COLLATE "C";
