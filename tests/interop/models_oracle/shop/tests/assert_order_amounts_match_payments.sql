-- Every order's amount equals the sum of its payments (returns the orders that disagree).
select
    orders.order_id,
    orders.amount,
    coalesce(sum(payments.amount), 0) as paid
from {{ ref('fct_orders') }} as orders
left join {{ ref('stg_payments') }} as payments
    on payments.order_id = orders.order_id
group by orders.order_id, orders.amount
having orders.amount <> coalesce(sum(payments.amount), 0)
