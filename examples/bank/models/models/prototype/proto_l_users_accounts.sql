-- The prototype's data_vault.l_users_accounts (macro link): the link key hashes user_id and
-- id concatenated without a delimiter, as the prototype does (a known collision risk).
{{
    config(
        materialized='incremental',
        alias='l_users_accounts',
        unique_key='users_accounts_hk',
        incremental_strategy='merge',
        merge_update_columns=['__record_last_source_lsn']
    )
}}
SELECT DISTINCT
    upper(md5(CAST(user_id AS VARCHAR) || CAST(id AS VARCHAR))) AS users_accounts_hk,
    upper(md5(CAST(user_id AS VARCHAR))) AS users_hk,
    upper(md5(CAST(id AS VARCHAR))) AS accounts_hk,
    current_timestamp AS __inserted_at,
    __source_connector AS __record_source,
    __source_details AS __record_source_details,
    max(__source_lsn) AS __record_last_source_lsn
FROM {{ ref('proto_parsed_accounts') }}
{% if is_incremental() %}
WHERE __source_lsn > (
    SELECT max(__record_last_source_lsn)
    FROM {{ this }}
)
{% endif %}
GROUP BY 1, 2, 3, 4, 5, 6
