DROP INDEX idempotency_keys_created;
DROP INDEX user_locations_recorded;
DROP TABLE incident_summaries;
