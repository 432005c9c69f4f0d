DROP INDEX notifications_lease_expiry;
DROP INDEX notifications_due_at;
