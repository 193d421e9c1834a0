{# Classifies an amount: style 'label' -> small/medium/large, 'flag' -> is it large,
   anything else -> the amount floored to a multiple of `step`. #}
{% macro amount_band(amount_col, style='label', step=10) -%}
    {%- set large = var('large_order_threshold', 100) -%}
    {%- if style == 'label' -%}
        case
            when {{ amount_col }} >= {{ large }} then 'large'
            when {{ amount_col }} >= 20 then 'medium'
            else 'small'
        end
    {%- elif style == 'flag' -%}
        ({{ amount_col }} >= {{ large }})
    {%- else -%}
        cast(floor({{ amount_col }} / {{ step }}) * {{ step }} as integer)
    {%- endif -%}
{%- endmacro %}
