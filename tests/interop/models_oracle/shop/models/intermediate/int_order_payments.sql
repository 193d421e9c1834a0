-- One row per order: what was paid with each method (pivoted by a Jinja loop).
select
    order_id,
    {% for method in var('payment_methods') -%}
    sum(case when payment_method = '{{ method }}' then amount else 0 end) as {{ method }}_amount,
    {% endfor -%}
    sum(amount) as total_amount,
    count(*) as payment_count,
    max(created_at) as last_payment_at
from {{ ref('stg_payments') }}
group by order_id
