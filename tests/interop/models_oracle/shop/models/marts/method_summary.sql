{{ config(schema='reporting') }}

select
    methods.payment_method,
    methods.label,
    methods.is_card,
    count(payments.payment_id) as payments,
    coalesce(sum(payments.amount_cents), 0) as total_cents,
    coalesce(sum(payments.amount), 0) as total_amount,
    round(coalesce(sum(payments.amount), 0) * methods.fee_rate, 2) as fees
from {{ ref('payment_methods') }} as methods
left join {{ ref('stg_payments') }} as payments
    on payments.payment_method = methods.payment_method
group by methods.payment_method, methods.label, methods.is_card, methods.fee_rate
