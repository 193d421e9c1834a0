{%- set method_groups = {'credit_card': 'card', 'gift_card': 'card', 'coupon': 'voucher', 'bank_transfer': 'transfer'} -%}

select
    id as payment_id,
    order_id,
    payment_method,
    case payment_method
        {%- for method, grp in method_groups.items() %}
        when '{{ method }}' then '{{ grp }}'
        {%- endfor %}
        else 'other'
    end as method_group,
    payment_method in ('{{ var("payment_methods") | join("', '") }}') as is_known_method,
    amount as amount_cents,
    {{ cents_to_dollars('amount') }} as amount,
    {{ cents_to_dollars('amount', scale=0) }} as amount_whole,
    created_at
from {{ source('src', 'payments') }}
