-- Undoes create_check_ins_and_outbox.
DROP TABLE suppressions;
DROP TABLE idempotency_keys;
DROP TABLE notifications;
DROP TABLE responses;
DROP TABLE check_ins;
