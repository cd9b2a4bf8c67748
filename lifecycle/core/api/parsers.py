"""The JSON parser every API endpoint uses: strict about what a body may be (API.md, "Conventions")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from lifecycle.core import strict_json
from lifecycle.core.request_body import drain, too_large_message


class StrictJSONParser(BaseParser):
    """UTF-8 JSON, at most MAX_REQUEST_BODY_BYTES, whose top level is an object.

    DRF reads the body as a stream and so bypasses Django's DATA_UPLOAD_MAX_MEMORY_SIZE: the limit is
    enforced here, before more than limit + 1 bytes are read. NaN and Infinity are refused because no
    other JSON reader accepts them back.
    """

    media_type = "application/json"

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        limit = settings.MAX_REQUEST_BODY_BYTES
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > limit:
            drain(stream, limit)
            raise _payload_too_large(limit)
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            drain(stream, limit)
            raise _payload_too_large(limit)
        return parse_json_object(raw)


def _payload_too_large(limit: int) -> Exception:
    # Imported here, not at the top: errors imports rest_framework.views, whose APIView reads
    # DEFAULT_PARSER_CLASSES, i.e. this module. Importing errors first (as the WSGI middleware and the
    # gunicorn worker may, before any view) would otherwise find this module half-initialized.
    from lifecycle.core.api.errors import PayloadTooLarge

    return PayloadTooLarge(too_large_message(limit))


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The JSON object in `raw`, or ParseError saying what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"The request body is not valid UTF-8 (byte {exc.start}).") from None
    try:
        data = strict_json.loads(text)
    except strict_json.JSONRejected as exc:
        raise ParseError(str(exc)) from None
    except ValueError as exc:
        raise ParseError(f"Malformed JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise ParseError(f"The request body must be a JSON object, not {_json_kind(data)}.")
    return data


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"
