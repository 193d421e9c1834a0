-- A new customer: a user, an account, and its opening deposit, in one transaction.
\set cents random(10000, 1000000)
BEGIN;
INSERT INTO users (email, name)
SELECT lower(first_name || '.' || last_name || '.' || substr(md5(random()::text), 1, 10)) || '@bank.example',
       first_name || ' ' || last_name
FROM (SELECT (ARRAY['Anna','Ben','Chloe','David','Emma','Felix','Grace','Hugo','Ines','Jonas',
                    'Klara','Leo','Maya','Noah','Olga','Paul','Quinn','Rosa','Sami','Tara',
                    'Umar','Vera','Wim','Xenia','Yusuf','Zoe'])[1 + floor(random() * 26)::int] AS first_name,
             (ARRAY['Meyer','Smith','Garcia','Rossi','Novak','Dubois','Jensen','Silva','Kowalski','Murphy',
                    'Schmidt','Jones','Martin','Bauer','Costa','Nagy','Larsen','Weber','Moreau','Brown'])[1 + floor(random() * 20)::int] AS last_name) AS n
RETURNING id AS uid \gset
INSERT INTO accounts (user_id, currency, balance)
VALUES (':uid', (ARRAY['EUR','EUR','EUR','USD','USD','GBP'])[1 + floor(random() * 6)::int], :cents / 100.0)
RETURNING id AS aid \gset
INSERT INTO transfers (from_account, to_account, amount, note) VALUES (NULL, ':aid', :cents / 100.0, 'opening deposit');
END;
