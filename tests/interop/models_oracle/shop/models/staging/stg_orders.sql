{% set fulfilled_statuses = ['shipped', 'completed'] %}

with ranked as (

    select
        *,
        row_number() over (partition by id order by updated_at desc) as version_rank
    from {{ source('src', 'orders') }}

)

select
    id as order_id,
    customer_id,
    order_date,
    status,
    status in (
        {%- for s in fulfilled_statuses -%}
            '{{ s }}'{% if not loop.last %}, {% endif %}
        {%- endfor -%}
    ) as is_fulfilled,
    updated_at
from ranked
where version_rank = 1
