{%- set vip_threshold = var('vip_threshold', 250) -%}

with customers as (

    select * from {{ ref('stg_customers') }}

),

countries as (

    select * from {{ ref('countries') }}

),

order_stats as (

    select
        customer_id,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        count(*) as order_count,
        sum(amount) as lifetime_value
    from {{ ref('fct_orders') }}
    where status <> 'returned'
    group by customer_id

)

select
    customers.customer_id,
    customers.first_name || ' ' || customers.last_name as full_name,
    customers.email,
    customers.country_code,
    coalesce(countries.country_name, 'Unknown') as country_name,
    countries.region,
    order_stats.first_order_date,
    order_stats.last_order_date,
    coalesce(order_stats.order_count, 0) as order_count,
    coalesce(order_stats.lifetime_value, 0) as lifetime_value,
    coalesce(order_stats.lifetime_value, 0) >= {{ vip_threshold }} as is_vip,
    '{{ env_var("ORACLE_SOURCE_SYSTEM", "unset") }}' as source_system,
    '{{ env_var("ORACLE_SHOP_UNSET_VARIABLE", "default-region") }}' as env_default
from customers
left join countries on countries.country_code = customers.country_code
left join order_stats on order_stats.customer_id = customers.customer_id
