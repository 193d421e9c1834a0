-- The prototype's data_vault.h_users (macro hub): hex md5 of the raw key, merged on the hash
-- key updating only the LSN. Trino's to_hex(md5(to_utf8(x))) is upper(md5(x)) in DuckDB.
{{
    config(
        materialized='incremental',
        alias='h_users',
        unique_key='users_hk',
        incremental_strategy='merge',
        merge_update_columns=['__record_last_source_lsn']
    )
}}
SELECT
    upper(md5(CAST(id AS VARCHAR))) AS users_hk,
    id AS users_id,
    current_timestamp AS __inserted_at,
    __source_connector AS __record_source,
    __source_details AS __record_source_details,
    max(__source_lsn) AS __record_last_source_lsn
FROM {{ ref('proto_parsed_users') }}
{% if is_incremental() %}
WHERE __source_lsn > (
    SELECT max(__record_last_source_lsn)
    FROM {{ this }}
)
{% endif %}
GROUP BY 1, 2, 3, 4, 5
