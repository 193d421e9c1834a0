-- The prototype's data_vault.s_accounts (macro satellite): plain append, no hashdiff, so every
-- change (and every delete, flagged) becomes a row.
{{ config(materialized='incremental', alias='s_accounts') }}
SELECT
    upper(md5(CAST(id AS VARCHAR))) AS accounts_hk,
    currency,
    balance,
    created_at,
    __deleted_flag,
    __valid_from_dttm,
    current_timestamp AS __inserted_at,
    __source_connector AS __record_source,
    __source_details AS __record_source_details,
    __source_lsn AS __record_source_lsn
FROM {{ ref('proto_parsed_accounts') }}
{% if is_incremental() %}
WHERE __source_lsn > (
    SELECT max(__record_source_lsn)
    FROM {{ this }}
)
{% endif %}
