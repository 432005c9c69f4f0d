-- Delivery claims the oldest due messages, and messages whose lease ran out, a batch at a time:
-- partial indexes let each claim read just its batch instead of every due row.
CREATE INDEX notifications_due_at ON notifications (next_attempt_at) WHERE state IN ('queued', 'retrying');
CREATE INDEX notifications_lease_expiry ON notifications (lease_until) WHERE state = 'sending';
