-- The invariants of the bank data (see schema.sql), one row each: `ok` must be true in
-- every committed state of the source, and on any consistent copy of it (a CDC replica
-- at a transaction boundary). Standard SQL: runs in PostgreSQL and in DuckDB.
--   psql "$CONNINFO" -f examples/bank/checks.sql
WITH ledger AS (
  SELECT account, sum(delta) AS net
  FROM (SELECT to_account AS account, amount AS delta FROM transfers WHERE to_account IS NOT NULL
        UNION ALL
        SELECT from_account, -amount FROM transfers WHERE from_account IS NOT NULL) moves
  GROUP BY account
)
SELECT 'no account has a negative balance' AS invariant, count(*) = 0 AS ok, count(*) AS violations
FROM accounts WHERE balance < 0
UNION ALL
SELECT 'every balance equals its ledger (money in - money out)', count(*) = 0, count(*)
FROM accounts a LEFT JOIN ledger l ON l.account = a.id
WHERE a.balance <> coalesce(l.net, 0)
UNION ALL
SELECT 'total balance = deposits - withdrawals',
       (SELECT coalesce(sum(balance), 0) FROM accounts)
         = (SELECT coalesce(sum(CASE WHEN from_account IS NULL THEN amount ELSE 0 END), 0)
                 - coalesce(sum(CASE WHEN to_account IS NULL THEN amount ELSE 0 END), 0) FROM transfers),
       0
UNION ALL
SELECT 'every user has an account', count(*) = 0, count(*)
FROM users u WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.user_id = u.id)
UNION ALL
SELECT 'every account belongs to a user', count(*) = 0, count(*)
FROM accounts a WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = a.user_id);
