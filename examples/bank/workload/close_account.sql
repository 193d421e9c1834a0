-- A user closes one of their accounts (never their last one): what is left on it is paid
-- out (a withdrawal in the ledger) and the account row is deleted, in one transaction.
-- The owner is locked first, so two sessions never close a user's last two accounts at once.
BEGIN;
SELECT coalesce(p.user_id::text, '') AS uid, coalesce(p.id::text, '') AS aid, (p.id IS NOT NULL)::int AS found
FROM (VALUES (gen_random_uuid())) AS r(at)
LEFT JOIN LATERAL ((SELECT id, user_id FROM accounts a WHERE id >= r.at
                      AND EXISTS (SELECT 1 FROM accounts o WHERE o.user_id = a.user_id AND o.id <> a.id)
                    ORDER BY id LIMIT 1)
                   UNION ALL
                   (SELECT id, user_id FROM accounts a
                    WHERE EXISTS (SELECT 1 FROM accounts o WHERE o.user_id = a.user_id AND o.id <> a.id)
                    ORDER BY id LIMIT 1) LIMIT 1) AS p ON true \gset
\if :found
SELECT 1 FROM users WHERE id = ':uid' FOR NO KEY UPDATE;
SELECT count(*) AS owned, coalesce(max(balance) FILTER (WHERE id = ':aid'), -1) AS bal
FROM (SELECT id, balance FROM accounts WHERE user_id = ':uid' ORDER BY id FOR UPDATE) AS mine \gset
\if :owned > 1 AND :bal >= 0
INSERT INTO transfers (from_account, to_account, amount, note)
SELECT id, NULL, balance, 'closing withdrawal' FROM accounts WHERE id = ':aid' AND balance > 0;
DELETE FROM accounts WHERE id = ':aid';
\endif
\endif
END;
