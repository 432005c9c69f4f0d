-- Lanes in the outbox: delivery claims every due message of a lane before any of the next one,
-- so a contact's "I'm safe" never waits behind a million prompt emails. A lane is a set of
-- kinds (domain::outbox::Lane); each has a partial index that its claim walks in due order,
-- stopping after its batch.
--   contacts: a contact's check-in email;
--   people:   prompts and reminders to the people prompted.
DROP INDEX notifications_due_at;
CREATE INDEX notifications_due_contacts ON notifications (next_attempt_at)
    WHERE state IN ('queued', 'retrying') AND kind = 'check_in';
CREATE INDEX notifications_due_people ON notifications (next_attempt_at)
    WHERE state IN ('queued', 'retrying') AND kind IN ('prompt', 'reminder');
