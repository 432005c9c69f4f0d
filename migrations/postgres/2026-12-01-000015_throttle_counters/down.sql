-- Back to one row per attempt, as 2026-11-28-000001_create_accounts made it (ids compared
-- bytewise since 000008 on PostgreSQL). The counters are throttling history only: not carried back.
DROP INDEX user_allowances_full_at;
DROP TABLE user_allowances;
DROP INDEX throttle_counters_window_start;
DROP TABLE throttle_counters;

CREATE TABLE login_failures (
    id           TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    scope        TEXT NOT NULL,
    subject      TEXT NOT NULL,
    attempted_at TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_lookup ON login_failures (scope, subject, attempted_at);
