{{ config(materialized='incremental', incremental_strategy='append') }}

select
    payment_id,
    order_id,
    payment_method,
    amount,
    {{ amount_band('amount', style='flag') }} as is_large,
    {{ amount_band('amount', style='bucket', step=25) }} as amount_bucket,
    created_at
from {{ ref('stg_payments') }}
{% if is_incremental() %}
where created_at > (select max(created_at) from {{ this }})
{% endif %}
