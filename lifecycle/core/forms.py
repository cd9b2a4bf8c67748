import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from lifecycle.core.strict_json import JSONRejected, StrictJSONDecoder


class StrictJSONFormField(forms.JSONField):
    """A form's JSON field that accepts what the API accepts (lifecycle.core.strict_json), no NaN and the like."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["decoder"] = StrictJSONDecoder
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> Any:
        # Django says only "Enter a valid JSON." for any decoding error; for well-formed JSON that we refuse
        # (too deep, NaN, a NUL) the reviewer is also told why, as the API tells its clients.
        try:
            return super().to_python(value)
        except ValidationError:
            if isinstance(value, str):
                try:
                    json.loads(value, cls=self.decoder)
                except JSONRejected as exc:
                    message = f"{self.error_messages['invalid']} {exc}"
                    raise ValidationError(message, code="invalid") from None
                except ValueError:
                    pass
            raise
