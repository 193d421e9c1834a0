-- A transfer between two accounts of the same currency: one transaction that updates two
-- accounts and inserts a ledger row. The two accounts are locked in id order (no deadlock
-- with other transfers), and never for more than the source holds (balance >= 0).
-- Random rows: the first id at or after a random uuid (ids are random uuids, so this is an
-- index probe, not a scan), wrapping around at the end.
\set cents random(100, 50000)
BEGIN;
SELECT coalesce(s.id::text, '') AS src, coalesce(d.id::text, '') AS dst, (d.id IS NOT NULL)::int AS found
FROM (VALUES (gen_random_uuid(), gen_random_uuid())) AS r(src_at, dst_at)
LEFT JOIN LATERAL ((SELECT id, currency FROM accounts WHERE id >= r.src_at AND balance > 0 ORDER BY id LIMIT 1)
                   UNION ALL
                   (SELECT id, currency FROM accounts WHERE balance > 0 ORDER BY id LIMIT 1) LIMIT 1) s ON true
LEFT JOIN LATERAL ((SELECT id FROM accounts WHERE id >= r.dst_at AND currency = s.currency AND id <> s.id ORDER BY id LIMIT 1)
                   UNION ALL
                   (SELECT id FROM accounts WHERE currency = s.currency AND id <> s.id ORDER BY id LIMIT 1) LIMIT 1) d ON true \gset
\if :found
SELECT CASE WHEN count(*) = 2 THEN round(least(:cents / 100.0, max(balance) FILTER (WHERE id = ':src')), 2) ELSE 0 END AS amount
FROM (SELECT id, balance FROM accounts WHERE id IN (':src', ':dst') ORDER BY id FOR UPDATE) AS locked \gset
\if :amount > 0
UPDATE accounts SET balance = balance - :amount WHERE id = ':src';
UPDATE accounts SET balance = balance + :amount WHERE id = ':dst';
INSERT INTO transfers (from_account, to_account, amount, note)
VALUES (':src', ':dst', :amount,
        (ARRAY['rent','groceries','dinner','gift','utilities','books','travel','refund','savings','loan repayment'])[1 + floor(random() * 10)::int]);
\endif
\endif
END;
