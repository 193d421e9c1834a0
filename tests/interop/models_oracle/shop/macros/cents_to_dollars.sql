{# Integer cents -> a decimal amount, `scale` digits after the point (rounded). #}
{% macro cents_to_dollars(column_name, scale=2) -%}
    round(cast({{ column_name }} as decimal(18, 2)) / 100, {{ scale }})::decimal(18, {{ scale }})
{%- endmacro %}
