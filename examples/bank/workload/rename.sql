-- A user changes their last name (one UPDATE of a random user).
UPDATE users
SET name = split_part(name, ' ', 1) || ' ' ||
           (ARRAY['Meyer','Smith','Garcia','Rossi','Novak','Dubois','Jensen','Silva','Kowalski','Murphy',
                  'Schmidt','Jones','Martin','Bauer','Costa','Nagy','Larsen','Weber','Moreau','Brown'])[1 + floor(random() * 20)::int]
WHERE id = (SELECT u.id
            FROM (VALUES (gen_random_uuid())) AS r(at),
                 LATERAL ((SELECT id FROM users WHERE id >= r.at ORDER BY id LIMIT 1)
                          UNION ALL
                          (SELECT id FROM users ORDER BY id LIMIT 1) LIMIT 1) AS u);
