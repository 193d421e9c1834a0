-- fails: event 6 is a refund with a negative amount
select event_id, amount
from {{ ref('events_clean') }}
where amount < 0
