{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['payment_date', 'payment_method']
    )
}}

select
    cast(created_at as date) as payment_date,
    payment_method,
    method_group,
    count(*) as payments,
    sum(amount) as amount
from {{ ref('stg_payments') }}
{% if is_incremental() -%}
where cast(created_at as date) >= (select max(payment_date) from {{ this }})
{%- endif %}
group by 1, 2, 3
