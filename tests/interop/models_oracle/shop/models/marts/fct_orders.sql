{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='order_id'
    )
}}

with orders as (

    select * from {{ ref('stg_orders') }}

),

payments as (

    select * from {{ ref('int_order_payments') }}

),

joined as (

    select
        orders.order_id,
        orders.customer_id,
        orders.order_date,
        orders.status,
        orders.is_fulfilled,
        {% for method in var('payment_methods') %}
        coalesce(payments.{{ method }}_amount, 0) as {{ method }}_amount,
        {% endfor %}
        coalesce(payments.total_amount, 0) as amount,
        coalesce(payments.payment_count, 0) as payment_count,
        greatest(orders.updated_at, coalesce(payments.last_payment_at, orders.updated_at)) as updated_at
    from orders
    left join payments on payments.order_id = orders.order_id

)

select
    order_id,
    customer_id,
    order_date,
    status,
    is_fulfilled,
    {%- for method in var('payment_methods') %}
    {{ method }}_amount,
    {%- endfor %}
    amount,
    payment_count,
    {{ amount_band('amount') }} as size_band,
    '{{ var("report_currency") }}' as currency,
    updated_at
from joined
{% if is_incremental() %}
where updated_at > (select max(updated_at) from {{ this }})
{% endif %}
