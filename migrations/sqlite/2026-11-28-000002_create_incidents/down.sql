-- Undoes create_incidents.
DROP TABLE audit_log;
DROP TABLE prompts;
DROP TABLE incidents;
