-- A recent transfer between two accounts is cancelled: its ledger row is deleted and both
-- balances are restored, in one transaction; skipped if the receiver has spent the money
-- or one of the accounts is closed.
\set back random(0, 50)
BEGIN;
SELECT coalesce(max(id), 0) AS tid
FROM (SELECT id FROM transfers WHERE from_account IS NOT NULL AND to_account IS NOT NULL
      ORDER BY id DESC OFFSET :back LIMIT 1) AS recent \gset
\if :tid > 0
SELECT coalesce(max(from_account::text), '') AS fa, coalesce(max(to_account::text), '') AS ta, coalesce(max(amount), 0) AS amt
FROM (SELECT from_account, to_account, amount FROM transfers WHERE id = :tid FOR UPDATE) AS t \gset
\if :amt > 0
SELECT CASE WHEN count(*) = 2 AND max(balance) FILTER (WHERE id = ':ta') >= :amt THEN 1 ELSE 0 END AS ok
FROM (SELECT id, balance FROM accounts WHERE id IN (':fa', ':ta') ORDER BY id FOR UPDATE) AS locked \gset
\if :ok
UPDATE accounts SET balance = balance + :amt WHERE id = ':fa';
UPDATE accounts SET balance = balance - :amt WHERE id = ':ta';
DELETE FROM transfers WHERE id = :tid;
\endif
\endif
\endif
END;
