-- Contacts opt in, addresses compared in a canonical form, and links signed with a key of their
-- own (issue 16).
--
-- One invitation per (user, address) ever: a row here is that invitation, queued when the user
-- listed the address. `email_canonical` is `domain::email::canonical` (lower case, no +tag, no
-- dots at gmail), so aliases of one mailbox are one address. `accepted_at` is set when the
-- address follows the invitation's accept link; until then the user's check-ins reach it as
-- fixed text only. A contact with no row here was listed while the address had been invited
-- recently by someone else (see invited_addresses): it stays pending, with fixed texts.
CREATE TABLE invitations (
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email_canonical TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    accepted_at     TIMESTAMP,
    PRIMARY KEY (user_id, email_canonical)
);
-- The per-user daily cap counts a user's invitations of the last day.
CREATE INDEX invitations_by_user_time ON invitations (user_id, created_at);

-- When each address was last invited, by anyone: at most one invitation per address per period
-- (SAFECHECK_INVITATION_PERIOD_SECS). Taken with one conditional UPDATE, so two users listing
-- one address at the same moment cannot both invite it.
CREATE TABLE invited_addresses (
    email_canonical TEXT PRIMARY KEY NOT NULL,
    last_invited_at TIMESTAMP NOT NULL
);

-- The hourly per-recipient cap: one counter per (canonical address, clock hour), incremented by
-- a conditional UPDATE (`sent < cap`), atomic under concurrent check-ins on PostgreSQL where the
-- earlier count-then-insert let concurrent transactions all pass.
CREATE TABLE recipient_hours (
    email_canonical TEXT NOT NULL,
    hour            TIMESTAMP NOT NULL,
    sent            INTEGER NOT NULL,
    PRIMARY KEY (email_canonical, hour)
);

-- Keys that sign links in emails (unsubscribe, accept an invitation). Made once, by the first
-- process to start, and read by every process (a separate `worker` too); rotating the JWT keys
-- does not touch them, so links keep working. `secret` is base64 of 32 random bytes.
CREATE TABLE link_keys (
    name       TEXT PRIMARY KEY NOT NULL,
    secret     TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- Invitations have a lane of their own, claimed after every other lane (domain::Lane).
CREATE INDEX notifications_due_invitations ON notifications (next_attempt_at)
    WHERE state IN ('queued', 'retrying') AND kind = 'invitation';

-- Suppressions are looked up by canonical address (and by the address as it was, for rows
-- written before). Each row gets its canonical twin, so an alias that unsubscribed before this
-- (`victim+x@gmail.com`) also covers `victim@gmail.com` and every other alias. Addresses are
-- stored lower-cased already, with one '@'. The same rule as domain::email::canonical.
WITH parts AS (
    SELECT substr(email, 1, instr(email, '@') - 1) AS local,
           substr(email, instr(email, '@') + 1) AS domain,
           created_at
    FROM suppressions
    WHERE instr(email, '@') > 1
), named AS (
    SELECT CASE WHEN instr(local, '+') > 1 THEN substr(local, 1, instr(local, '+') - 1) ELSE local END AS name,
           domain,
           created_at
    FROM parts
)
INSERT OR IGNORE INTO suppressions (email, created_at)
SELECT CASE WHEN domain IN ('gmail.com', 'googlemail.com') THEN replace(name, '.', '') || '@gmail.com'
            ELSE name || '@' || domain END,
       min(created_at)
FROM named
GROUP BY 1;
