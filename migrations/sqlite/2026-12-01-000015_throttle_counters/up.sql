-- Throttling by counters instead of rows (issue 16). Each refused login attempt used to be a row
-- of login_failures, and each attempt counted the window's rows: a flood of N attempts from one
-- address cost N rows read N times. Now one counter row per (scope, subject), changed by one
-- atomic statement per attempt, so an attempt costs the same whatever came before it.
--
-- The rows of login_failures are only throttling history (at most one window old, deleted by
-- housekeeping): they are dropped, not carried over. Every counter starts from zero.
DROP TABLE login_failures;

-- scope: 'account_address' (subject: 'address account'), 'ip' (subject: the client address or
-- its /64), 'registration' (subject: the client address). `attempts` counts since
-- `window_start`; an attempt made a window or more after `window_start` starts the count again
-- (in the same statement), and housekeeping deletes such rows. `latest_at` is the latest
-- attempt's time and `previous_at` the one before it: the statement that counts an attempt moves
-- latest_at to previous_at, so each of many concurrent attempts learns its own predecessor's time
-- (the growing delay of an (account, address) pair is measured from it).
CREATE TABLE throttle_counters (
    scope        TEXT NOT NULL,
    subject      TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    window_start TIMESTAMP NOT NULL,
    latest_at    TIMESTAMP NOT NULL,
    previous_at  TIMESTAMP,
    PRIMARY KEY (scope, subject)
);
-- Housekeeping deletes the counters whose window is over.
CREATE INDEX throttle_counters_window_start ON throttle_counters (window_start);

-- Per-user limits (check-ins, location updates) as a generic cell rate: each (limit, user)'s
-- theoretical arrival time, when the user's allowance is whole again. Kept here, not in each
-- process's memory, so that N server processes give a user one allowance, not N. In
-- microseconds since the Unix epoch (UTC), so that the statement that takes a slot can add the
-- interval in SQL the same way on both backends. A missing row is a whole allowance:
-- housekeeping deletes rows once their time has passed.
CREATE TABLE user_allowances (
    limit_name TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    full_at_us BIGINT NOT NULL,
    PRIMARY KEY (limit_name, user_id)
);
CREATE INDEX user_allowances_full_at ON user_allowances (full_at_us);
