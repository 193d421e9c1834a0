-- Every change of public.users, typed, with the change's metadata under the names the Data
-- Vault reads (docs/data-vault.md, "Source models"). new_rows() reads exactly the raw rows
-- appended since this model's last commit: nothing skipped, nothing read twice.
{{ config(materialized='incremental', incremental_strategy='append') }}
SELECT
    id,
    email,
    name,
    created_at,
    _op = 'd' AS __deleted_flag,
    _commit_ts AS __valid_from_dttm,
    _lsn AS __source_lsn,
    _op AS __source_op,
    'frazil' AS __source_connector,
    'bank.public.users' AS __source_details,
    current_timestamp AS __inserted_at
FROM {{ new_rows(source('raw', 'users')) }}
-- A TRUNCATE row carries no key: skipped (README.md).
WHERE _op <> 't'
