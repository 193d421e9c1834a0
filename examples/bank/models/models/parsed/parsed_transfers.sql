-- Every change of public.transfers, typed (see parsed_users.sql). A cancelled transfer is a
-- delete: REPLICA IDENTITY FULL gives its whole old row.
{{ config(materialized='incremental', incremental_strategy='append') }}
SELECT
    id,
    from_account,
    to_account,
    amount,
    booked_at,
    note,
    _op = 'd' AS __deleted_flag,
    _commit_ts AS __valid_from_dttm,
    _lsn AS __source_lsn,
    _op AS __source_op,
    'frazil' AS __source_connector,
    'bank.public.transfers' AS __source_details,
    current_timestamp AS __inserted_at
FROM {{ new_rows(source('raw', 'transfers')) }}
-- A TRUNCATE row carries no key: skipped (README.md).
WHERE _op <> 't'
