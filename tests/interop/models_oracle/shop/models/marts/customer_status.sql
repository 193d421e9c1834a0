{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='customer_id',
        merge_update_columns=['email', 'country_code', 'updated_at']
    )
}}

-- The first name and last name a customer signed up with are kept; contact data follows
-- the latest version (merge_update_columns).
select
    customer_id,
    first_name,
    last_name,
    email,
    country_code,
    signup_date,
    updated_at
from {{ ref('stg_customers') }}
{% if is_incremental() -%}
where updated_at > (select max(updated_at) from {{ this }})
{%- endif %}
