-- The prototype's parsed_data.parsed_accounts (macro parse_raw_data), over frazil's raw table
-- instead of Debezium's JSON. Kept as the prototype wrote it, including its incremental
-- filter, which can skip rows (README.md); models/parsed/parsed_accounts.sql is frazil's version.
{{ config(materialized='incremental', alias='parsed_accounts') }}
SELECT
    id,
    user_id,
    currency,
    balance,
    created_at,
    CASE WHEN _op = 'd' THEN true ELSE false END AS __deleted_flag,
    CAST(_commit_ts AS TIMESTAMP) AS __valid_from_dttm,  -- timestamp(6) in UTC, as the prototype's
    _lsn AS __source_lsn,
    'frazil' AS __source_connector,
    'bank.public.accounts' AS __source_details,
    current_timestamp AS __inserted_at
FROM {{ source('raw', 'accounts') }}
-- A TRUNCATE row carries no key: skipped.
WHERE _op <> 't'
{% if is_incremental() %}
    AND _lsn > (SELECT max(__source_lsn) FROM {{ this }})
{% endif %}
