{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='order_date') }}

select
    order_date,
    count(*) as orders,
    count(distinct customer_id) as customers,
    sum(amount) as revenue,
    sum(case when is_fulfilled then amount else 0 end) as fulfilled_revenue,
    count(*) filter (where size_band = 'large') as large_orders
from {{ ref('fct_orders') }}
{% if is_incremental() %}
-- the last loaded day is recomputed: late orders for it replace its row
where order_date >= (select max(order_date) from {{ this }})
{% endif %}
group by order_date
