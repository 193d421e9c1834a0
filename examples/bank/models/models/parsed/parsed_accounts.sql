-- Every change of public.accounts, typed (see parsed_users.sql).
{{ config(materialized='incremental', incremental_strategy='append') }}
SELECT
    id,
    user_id,
    currency,
    balance,
    created_at,
    _op = 'd' AS __deleted_flag,
    _commit_ts AS __valid_from_dttm,
    _lsn AS __source_lsn,
    _op AS __source_op,
    'frazil' AS __source_connector,
    'bank.public.accounts' AS __source_details,
    current_timestamp AS __inserted_at
FROM {{ new_rows(source('raw', 'accounts')) }}
-- A TRUNCATE row carries no key: skipped (README.md).
WHERE _op <> 't'
