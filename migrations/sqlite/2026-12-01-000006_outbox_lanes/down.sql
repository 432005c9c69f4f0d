DROP INDEX notifications_due_people;
DROP INDEX notifications_due_contacts;
CREATE INDEX notifications_due_at ON notifications (next_attempt_at) WHERE state IN ('queued', 'retrying');
