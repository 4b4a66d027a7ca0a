"""Post admin change forms as a browser would: every field and inline as the page rendered it."""

from __future__ import annotations

from typing import Any


def _value(bound_field: Any) -> Any:
    value = bound_field.value()
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    if isinstance(value, bool):
        return "on" if value else ""
    return value


def form_data(response: Any) -> dict[str, Any]:
    """The POST body the admin page in `response` would send unchanged."""
    data: dict[str, Any] = {}
    form = response.context["adminform"].form
    for name in form.fields:
        bf = form[name]
        value = _value(bf)
        if value != "":
            data[bf.html_name] = value
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[management[name].html_name] = management[name].value()
        for sub in formset.forms:
            for name in sub.fields:
                value = _value(sub[name])
                if value != "":
                    data[sub[name].html_name] = value
    return data


def add_inline_row(data: dict[str, Any], prefix: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Append one new row to an inline formset in `data`."""
    index = int(data[f"{prefix}-TOTAL_FORMS"])
    for key, value in fields.items():
        data[f"{prefix}-{index}-{key}"] = value
    data[f"{prefix}-TOTAL_FORMS"] = str(index + 1)
    return data
