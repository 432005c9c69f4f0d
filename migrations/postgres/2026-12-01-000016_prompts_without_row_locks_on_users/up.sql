-- The fan-out writes a prompt per person inside, millions in a city. Each foreign key of
-- prompts ran a trigger per inserted row, and the one to users also locked that user's row
-- (FOR KEY SHARE), which writes to the users table's page: measured by inserting the same
-- rows in key order, 1,000,000 prompts took 12.8 s with both keys and 2.6 s with neither, and
-- 4,000,000 took 75.6 s against 12.3 s (BENCHMARKS.md). The rules they kept are kept by the
-- code instead, on both backends:
-- - a prompt is inserted only for a user who exists (the insert reads users);
-- - erasing a user deletes their prompts, in a transaction that first waits for any fan-out
--   chunk in progress (it takes the active incidents' rows FOR SHARE, which a chunk writes).
-- Incidents are never deleted: retention deletes an ended incident's prompts itself.
-- SQLite keeps both keys: its checks take no locks and its fan-out runs at its insert ceiling.
ALTER TABLE prompts DROP CONSTRAINT prompts_user_id_fkey;
ALTER TABLE prompts DROP CONSTRAINT prompts_incident_id_fkey;
