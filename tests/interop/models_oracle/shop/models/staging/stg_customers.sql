-- The latest version of each customer.
with source as (

    select * from {{ source('src', 'customers') }}

),

ranked as (

    select
        *,
        row_number() over (partition by id order by updated_at desc) as version_rank
    from source

)

select
    id as customer_id,
    first_name,
    last_name,
    lower(email) as email,
    upper(country_code) as country_code,
    signup_date,
    updated_at
from ranked
where version_rank = 1
