from typing import Any

from django import forms

from lifecycle.core.strict_json import StrictJSONDecoder


class StrictJSONFormField(forms.JSONField):
    """A form's JSON field that accepts what the API accepts (lifecycle.core.strict_json), no NaN and the like."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["decoder"] = StrictJSONDecoder
        super().__init__(**kwargs)
