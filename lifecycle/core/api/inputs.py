"""Reading request input: strict field types and helpers every view uses the same way."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from django.http import QueryDict
from rest_framework import serializers

from lifecycle.core.environments import NOT_AN_ENVIRONMENT, Environment
from lifecycle.core.exceptions import InvalidInput


class StrictCharField(serializers.CharField):
    """A string, and only a string: DRF's CharField would quietly turn 42 or true into "42" or "True"."""

    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """true or false: DRF's BooleanField would also take "yes", 1 or "off"."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: DRF's IntegerField would also take "2", 2.0 or true."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictNumberField(serializers.FloatField):
    """A JSON number: DRF's FloatField would also take "95" or true (or fail on an integer too large for a float)."""

    default_error_messages = {"not_a_number": "Must be a number."}

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("not_a_number")
        try:
            number = float(data)
        except OverflowError:
            self.fail("not_a_number")
        if not math.isfinite(number):
            self.fail("not_a_number")
        return super().to_internal_value(number)


class StrictUUIDField(serializers.UUIDField):
    """An id as a string: DRF's UUIDField would also read 5 or false as UUID(int=...), and a client's wrong
    type would come back as a 404 instead of a 400."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class EnvironmentField(serializers.ChoiceField):
    """An environment's name, refused with the same words as check_environment."""

    default_error_messages = {"invalid_choice": NOT_AN_ENVIRONMENT}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=Environment.choices, **kwargs)


def validated(serializer_class: type[serializers.Serializer], data: Any, **kwargs: Any) -> dict[str, Any]:
    """The input's validated data, or a 400 naming every field that is wrong.

    Query parameters are read as plain values: DRF would read a QueryDict as an HTML form, where an empty
    value (`?environment=`) means "not given"; here it is the value "", refused like any other bad value.
    """
    if isinstance(data, QueryDict):
        data = data.dict()
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


@contextmanager
def errors_under(prefix: str) -> Iterator[None]:
    """Report a service's field errors at their place in the request body (`content` -> `data.content`)."""
    try:
        yield
    except InvalidInput as exc:
        if not exc.fields:
            raise
        raise InvalidInput.of({f"{prefix}.{path}": messages for path, messages in exc.fields.items()}) from None


class ZonedDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time with a zone (a time without one would be read in the server's zone), as UTC, within
    reach(): subclasses set how far (and their messages say so)."""

    default_error_messages = {
        "invalid": "must be an ISO 8601 time with a zone, e.g. 2026-01-31T00:00:00Z",
        "naive": "needs a time zone (e.g. Z or +02:00)",
        "out_of_reach": "must be from the year 2000 to 9000",
    }

    def reach(self) -> tuple[datetime, datetime]:
        # Far enough for any plan, near enough that every moment converts to UTC and back.
        return datetime(2000, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)

    def to_internal_value(self, value: Any) -> datetime:
        if not isinstance(value, str):
            self.fail("invalid")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.fail("invalid")
        if moment.utcoffset() is None:
            self.fail("naive")
        # Compared before converting: 0001-01-01T00:00:00+14:00 has no year in UTC to be converted into.
        earliest, latest = self.reach()
        if not earliest <= moment <= latest:
            self.fail("out_of_reach")
        return moment.astimezone(UTC)
