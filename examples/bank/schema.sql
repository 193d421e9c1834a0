-- The "bank" source database of frazil's demo: users, their accounts, and a ledger of
-- transfers. Plain PostgreSQL (>= 13: gen_random_uuid() is built in), no extension.
--
-- Every change of a balance is a row of `transfers`, so the data carries invariants that
-- hold in every committed state (examples/bank/checks.sql tests them, on the source or on a
-- replica of it):
--   * balance >= 0 for every account;
--   * every account's balance = money in - money out over `transfers`;
--   * sum(balance) = deposits (from_account IS NULL) - withdrawals (to_account IS NULL);
--   * every user has at least one account.
-- All three tables have REPLICA IDENTITY FULL, so that logical replication carries whole
-- old rows on UPDATE and DELETE. No publication here: frazil creates its own.

CREATE TABLE users (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email      varchar NOT NULL UNIQUE,
    name       varchar NOT NULL,
    created_at date    NOT NULL DEFAULT current_date
);

CREATE TABLE accounts (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid          NOT NULL REFERENCES users (id),
    currency   varchar(3)    NOT NULL,
    balance    numeric(15,2) NOT NULL DEFAULT 0 CHECK (balance >= 0),
    created_at date          NOT NULL DEFAULT current_date
);
CREATE INDEX accounts_user_id ON accounts (user_id);

-- from_account NULL: a deposit (money enters the bank); to_account NULL: a withdrawal.
-- No foreign keys: a closed (deleted) account keeps its history.
CREATE TABLE transfers (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    from_account uuid,
    to_account   uuid,
    amount       numeric(15,2) NOT NULL CHECK (amount > 0),
    booked_at    timestamptz   NOT NULL DEFAULT now(),
    note         text,
    CHECK (from_account IS NOT NULL OR to_account IS NOT NULL),
    CHECK (from_account <> to_account)
);
CREATE INDEX transfers_from_account ON transfers (from_account);
CREATE INDEX transfers_to_account ON transfers (to_account);

ALTER TABLE users REPLICA IDENTITY FULL;
ALTER TABLE accounts REPLICA IDENTITY FULL;
ALTER TABLE transfers REPLICA IDENTITY FULL;
