-- The canonical twins up.sql added to suppressions stay: an address that unsubscribed stays so.
DROP INDEX notifications_due_invitations;
DROP TABLE link_keys;
DROP TABLE recipient_hours;
DROP TABLE invited_addresses;
DROP INDEX invitations_by_user_time;
DROP TABLE invitations;
