select
    event_id,
    lower(kind) as kind,
    user_id,
    amount
from {{ ref('events') }}
