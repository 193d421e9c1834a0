-- Fills an empty bank schema (schema.sql) with :users users (default 1000), two accounts
-- each, an opening deposit per account and :transfers transfers between accounts of the
-- same currency (default 5 per user), all booked in the past. Every invariant listed in
-- schema.sql holds afterwards.
--
--   psql "$CONNINFO" -v ON_ERROR_STOP=1 -f examples/bank/schema.sql
--   psql "$CONNINFO" -v ON_ERROR_STOP=1 -v users=100000 -f examples/bank/seed.sql
--
-- Names, currencies, amounts and dates come from random() under a fixed setseed(), so two
-- runs differ only in their uuids. Run it once: the emails of a second run would collide.
\set ON_ERROR_STOP 1
\if :{?users}
\else
  \set users 1000
\endif
\if :{?transfers}
\else
  SELECT 5 * :users AS transfers \gset
\endif

BEGIN;
SELECT setseed(0.42) \gset

CREATE TEMP TABLE seed_users ON COMMIT DROP AS
SELECT i,
       gen_random_uuid() AS id,
       first_name,
       last_name,
       (ARRAY['EUR','EUR','EUR','EUR','EUR','USD','USD','USD','GBP','GBP'])[1 + floor(random() * 10)::int] AS home_currency,
       DATE '2015-01-01' + floor(random() * (current_date - 400 - DATE '2015-01-01'))::int AS created_at
FROM generate_series(1, :users) AS i,
     LATERAL (SELECT (ARRAY['Anna','Ben','Chloe','David','Emma','Felix','Grace','Hugo','Ines','Jonas',
                            'Klara','Leo','Maya','Noah','Olga','Paul','Quinn','Rosa','Sami','Tara',
                            'Umar','Vera','Wim','Xenia','Yusuf','Zoe'])[1 + floor(random() * 26)::int + 0 * i]
                     AS first_name,
                     (ARRAY['Meyer','Smith','Garcia','Rossi','Novak','Dubois','Jensen','Silva','Kowalski','Murphy',
                            'Schmidt','Jones','Martin','Bauer','Costa','Nagy','Larsen','Weber','Moreau','Brown'])[1 + floor(random() * 20)::int + 0 * i]
                     AS last_name) AS n;

INSERT INTO users (id, email, name, created_at)
SELECT id, lower(first_name || '.' || last_name || '.' || i) || '@bank.example', first_name || ' ' || last_name, created_at
FROM seed_users ORDER BY i;

-- Two accounts per user: the first in the home currency, the second too in 4 cases of 5.
CREATE TEMP TABLE seed_accounts ON COMMIT DROP AS
SELECT a.*,
       row_number() OVER (ORDER BY a.user_i, a.k) AS n,
       row_number() OVER (PARTITION BY a.currency ORDER BY a.user_i, a.k) AS n_in_currency,
       count(*) OVER (PARTITION BY a.currency) AS accounts_in_currency
FROM (SELECT u.i AS user_i, k, gen_random_uuid() AS id, u.id AS user_id,
             CASE WHEN k = 1 OR random() < 0.8 THEN u.home_currency
                  ELSE (ARRAY['EUR','USD','GBP'])[1 + floor(random() * 3)::int] END AS currency,
             u.created_at + floor(random() * 30)::int AS created_at,
             round((500 + random() * 9500)::numeric, 2) AS deposit
      FROM seed_users u, generate_series(1, 2) AS k) a;

-- Transfer t is sent by account (t mod #accounts) + 1, so no account sends more than
-- ceil(transfers / #accounts) times, each time at most 500 / that: never more than its
-- smallest possible deposit (500.00). The receiver is another account of the same currency.
ANALYZE seed_accounts;
CREATE TEMP TABLE seed_transfers ON COMMIT DROP AS
WITH params AS (
  SELECT count(*) AS accounts,
         greatest(0.01, 500.0 / ceil(:transfers::numeric / count(*))) AS max_amount
  FROM seed_accounts
), picks AS MATERIALIZED (
  SELECT s.id AS from_account, s.currency,
         (s.n_in_currency + floor(random() * (s.accounts_in_currency - 1))::int) % s.accounts_in_currency + 1 AS to_n,
         greatest(0.01, round((random() * p.max_amount)::numeric, 2)) AS amount,
         now() - random() * interval '365 days' AS booked_at,
         (ARRAY['rent','groceries','dinner','gift','utilities','books','travel','refund','savings','loan repayment'])[1 + floor(random() * 10)::int] AS note
  FROM generate_series(0, :transfers - 1) AS t
  CROSS JOIN params p
  JOIN seed_accounts s ON s.n = t % p.accounts + 1
  WHERE s.accounts_in_currency > 1
)
SELECT p.from_account, r.id AS to_account, p.amount, p.booked_at, p.note
FROM picks p JOIN seed_accounts r ON r.currency = p.currency AND r.n_in_currency = p.to_n;

INSERT INTO accounts (id, user_id, currency, balance, created_at)
SELECT a.id, a.user_id, a.currency, a.deposit + coalesce(i.total, 0) - coalesce(o.total, 0), a.created_at
FROM seed_accounts a
LEFT JOIN (SELECT to_account AS id, sum(amount) AS total FROM seed_transfers GROUP BY 1) i USING (id)
LEFT JOIN (SELECT from_account AS id, sum(amount) AS total FROM seed_transfers GROUP BY 1) o USING (id)
ORDER BY a.n;

INSERT INTO transfers (from_account, to_account, amount, booked_at, note)
SELECT from_account, to_account, amount, booked_at, note FROM (
  SELECT NULL::uuid AS from_account, id AS to_account, deposit AS amount,
         created_at + time '09:00' AS booked_at, 'opening deposit' AS note
  FROM seed_accounts
  UNION ALL
  SELECT from_account, to_account, amount, booked_at, note FROM seed_transfers
) all_transfers
ORDER BY booked_at;

COMMIT;
ANALYZE users, accounts, transfers;
