-- The PostgreSQL twin drops the foreign keys of prompts, whose per-row triggers and row locks
-- on users were most of the fan-out's cost there. SQLite's checks take no locks and its
-- fan-out runs at its insert ceiling: the keys stay. The code keeps the same rules on both.
SELECT 1;
