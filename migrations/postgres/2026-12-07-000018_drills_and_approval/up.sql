-- Issue 19: drills, and a second operator for large activations.
--
-- A drill (CAP's status Exercise) says EXERCISE in every prompt, email and representation;
-- its people's contacts are emailed only if the operator asked (notify_contacts). A real
-- incident always notifies contacts.
ALTER TABLE incidents ADD COLUMN exercise BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE incidents ADD COLUMN notify_contacts BOOLEAN NOT NULL DEFAULT TRUE;
-- An activation whose dry-run count exceeds SAFECHECK_APPROVAL_THRESHOLD waits, status
-- `pending_approval`, until another operator approves it (status `active`, the fan-out starts)
-- or rejects it (status `rejected`), or until `approval_expires_at` passes (status `rejected`,
-- resolution `approval_expired`).
ALTER TABLE incidents ADD COLUMN approval_expires_at TIMESTAMP;
ALTER TABLE incidents ADD COLUMN approved_by TEXT;
ALTER TABLE incidents ADD COLUMN approved_at TIMESTAMP;
-- How many people the dry run counted when it was created (at most threshold + 1: the count
-- stops there), for the approver to read.
ALTER TABLE incidents ADD COLUMN would_prompt BIGINT;
CREATE INDEX incidents_pending ON incidents (approval_expires_at) WHERE status = 'pending_approval';
