-- Issue 16, two defects of the opt-in and of registration.
--
-- 1. Every listing of an address is an invitation of its own, whether or not it is emailed.
--    An address invited by someone else within SAFECHECK_INVITATION_PERIOD_SECS is not emailed
--    again (one invitation email per address per period, whoever lists it), but the listing is
--    recorded here and the user's check-in emails to it carry its accept link: a first lister
--    can no longer keep everyone else's contact pending. `emailed_at` is when the invitation
--    email was queued; NULL while it is held back. Every row before this one was emailed.
ALTER TABLE invitations ADD COLUMN emailed_at TIMESTAMP;
UPDATE invitations SET emailed_at = created_at;

-- 2. One account per mailbox: `email_canonical` is domain::email::canonical of the address
--    (lower case, no +tag, no dots at gmail), unique, so `victim+1@gmail.com` cannot be
--    registered beside `victim@gmail.com` (each account would get its own prompt emails).
--    Accounts made before this keep their address; where several share a mailbox, the oldest
--    gets the canonical form and the others NULL (NULLs never clash in a unique index), and new
--    registrations of that mailbox are refused. The same rule as the suppressions' twins
--    (migration 000011).
ALTER TABLE users ADD COLUMN email_canonical TEXT;
WITH parts AS (
    SELECT id,
           created_at,
           substr(email, 1, instr(email, '@') - 1) AS local,
           substr(email, instr(email, '@') + 1) AS domain
    FROM users
    WHERE instr(email, '@') > 1
), named AS (
    SELECT id,
           created_at,
           CASE WHEN instr(local, '+') > 1 THEN substr(local, 1, instr(local, '+') - 1) ELSE local END AS name,
           domain
    FROM parts
), canonical AS (
    SELECT id,
           created_at,
           CASE WHEN domain IN ('gmail.com', 'googlemail.com') THEN replace(name, '.', '') || '@gmail.com'
                ELSE name || '@' || domain END AS address
    FROM named
), ranked AS (
    SELECT id, address, row_number() OVER (PARTITION BY address ORDER BY created_at, id) AS rank
    FROM canonical
)
UPDATE users SET email_canonical = (SELECT address FROM ranked WHERE ranked.id = users.id)
WHERE id IN (SELECT id FROM ranked WHERE rank = 1);
CREATE UNIQUE INDEX users_email_canonical_key ON users (email_canonical);
