-- Housekeeping deletes outbox rows of no incident (invitations) once done with and past the
-- retention time; this keeps that from reading the whole outbox every pass.
CREATE INDEX notifications_without_incident ON notifications (created_at) WHERE incident_id IS NULL;
