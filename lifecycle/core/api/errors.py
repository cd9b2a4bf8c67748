"""The one place that shapes error bodies (API.md, "Conventions").

Every error leaves the server as `{"error": {"code", "message", "fields"?}}`: DRF's own exceptions, our
domain errors, and the 404/500 pages Django serves for /api/ paths that never reached a DRF view.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.settings import api_settings

from lifecycle.core.exceptions import DomainError

logger = logging.getLogger(__name__)


class PayloadTooLarge(drf_exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = "The request body is too large."


# DRF's exception classes, by the stable code our body gives them.
_DRF_CODES: list[tuple[type[drf_exceptions.APIException], str]] = [
    (drf_exceptions.ParseError, "malformed_request"),
    (drf_exceptions.NotAuthenticated, "not_authenticated"),
    (drf_exceptions.AuthenticationFailed, "authentication_failed"),
    (drf_exceptions.PermissionDenied, "permission_denied"),
    (drf_exceptions.NotFound, "not_found"),
    (drf_exceptions.MethodNotAllowed, "method_not_allowed"),
    (drf_exceptions.NotAcceptable, "not_acceptable"),
    (drf_exceptions.UnsupportedMediaType, "unsupported_media_type"),
    (drf_exceptions.Throttled, "throttled"),
    (PayloadTooLarge, "payload_too_large"),
]


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def flatten_validation_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into one list of messages per field path: `data.variables[1].name`."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int):
                path = f"{prefix}[{key}]"
            elif key == api_settings.NON_FIELD_ERRORS_KEY:
                path = prefix or "non_field_errors"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            for sub_path, messages in flatten_validation_errors(value, path).items():
                flat.setdefault(sub_path, []).extend(messages)
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            flat[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                if item:
                    flat.update(flatten_validation_errors(item, f"{prefix}[{index}]"))
    else:
        flat[prefix or "non_field_errors"] = [str(detail)]
    return flat


def _first_problem(fields: dict[str, list[str]]) -> str:
    path, messages = next(iter(fields.items()))
    return f"{path}: {messages[0]}" if path != "non_field_errors" else messages[0]


# SQLite: another connection holds the lock past the timeout, or the file cannot be reached right now.
_SQLITE_BUSY_NAMES = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR")
_SQLITE_BUSY_MESSAGES = (
    "database is locked",
    "database table is locked",
    "unable to open database file",
    "disk i/o error",
)
# PostgreSQL SQLSTATEs (appendix A of its manual): connection exceptions (08), transaction rollbacks
# (40: serialization failure, deadlock), insufficient resources (53: too many connections, out of
# memory or disk), the server shutting down or starting (57P01-57P03), a lock not available (55P03).
_POSTGRESQL_BUSY_CLASSES = ("08", "40", "53")
_POSTGRESQL_BUSY_STATES = ("57P01", "57P02", "57P03", "55P03")


def database_unavailable(exc: BaseException) -> bool:
    """Whether a database error means "busy or unreachable, try again" rather than a bug.

    Decided by the driver's error under Django's (its `__cause__`): Django's OperationalError alone also
    covers a mistake such as SQLite's "no such column", which no retry mends and which must be seen.
    """
    driver = exc.__cause__ if exc.__cause__ is not None else exc
    if isinstance(driver, sqlite3.Error):
        name = getattr(driver, "sqlite_errorname", "") or ""
        if name.startswith(_SQLITE_BUSY_NAMES):
            return True
    psycopg = sys.modules.get("psycopg")  # imported by Django's PostgreSQL backend, if in use
    if psycopg is not None and isinstance(driver, psycopg.Error):
        state = driver.sqlstate
        if state is None:  # raised by the client itself: the connection failed or was lost
            return isinstance(driver, psycopg.OperationalError)
        return state.startswith(_POSTGRESQL_BUSY_CLASSES) or state in _POSTGRESQL_BUSY_STATES
    # SQLite's message, when its error code is not at hand (an error raised with words only).
    return str(driver).lower().startswith(_SQLITE_BUSY_MESSAGES)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error raised under a DRF view is shaped here."""
    headers: dict[str, str] = {}
    if isinstance(exc, DomainError):
        body = error_body(exc.code, exc.message, exc.fields)
        status_code = exc.status
    elif isinstance(exc, drf_exceptions.ValidationError):
        fields = flatten_validation_errors(exc.detail)
        message = f"Invalid input: {_first_problem(fields)}" if fields else "Invalid input."
        body = error_body("invalid", message, fields)
        status_code = status.HTTP_400_BAD_REQUEST
    elif isinstance(exc, Http404):
        body, status_code = error_body("not_found", "Not found."), status.HTTP_404_NOT_FOUND
    elif isinstance(exc, DjangoPermissionDenied):
        body = error_body("permission_denied", "You do not have permission to do this.")
        status_code = status.HTTP_403_FORBIDDEN
    elif isinstance(exc, drf_exceptions.APIException):
        code = next((code for cls, code in _DRF_CODES if isinstance(exc, cls)), "error")
        message = str(exc.detail) if not isinstance(exc.detail, dict | list) else str(exc.default_detail)
        if isinstance(exc, drf_exceptions.UnsupportedMediaType):
            message = f"{message} Send JSON with the header 'Content-Type: application/json'."
        body, status_code = error_body(code, message), exc.status_code
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
        wait = getattr(exc, "wait", None)  # Throttled's (DRF's stubs do not declare it)
        if wait:
            headers["Retry-After"] = str(int(wait))
    elif isinstance(exc, DatabaseError) and database_unavailable(exc):
        # The database is busy (SQLite's write lock held past its timeout) or unreachable: nothing was
        # written, and trying again shortly is the right thing for the client to do. Any other database
        # error is a bug: it falls through to Django's 500, which logs it.
        logger.warning("database unavailable: %s", exc)
        body = error_body("unavailable", "The database is busy or unreachable; nothing was stored. Try again.")
        status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        headers["Retry-After"] = "1"
    else:
        return None  # a bug, not bad input: Django's 500 handler answers (and it is logged)
    # Imported here: rest_framework.views reads the parser settings when imported, and our parser imports
    # this module (PayloadTooLarge), so importing it first would be circular.
    from rest_framework.views import set_rollback

    set_rollback()
    return Response(body, status=status_code, headers=headers)


def throttled_response(exc: drf_exceptions.Throttled) -> JsonResponse:
    """The 429 the exception handler would give, for a request answered before DRF's way (the fast path)."""
    response = JsonResponse(error_body("throttled", str(exc.detail)), status=status.HTTP_429_TOO_MANY_REQUESTS)
    wait = getattr(exc, "wait", None)
    if wait:
        response["Retry-After"] = str(int(wait))
    return response


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def json_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return defaults.page_not_found(request, exception or Http404())


def json_bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(error_body("bad_request", "Bad request."), status=400)
    return defaults.bad_request(request, exception or Exception())


def json_forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(error_body("permission_denied", "You do not have permission to do this."), status=403)
    return defaults.permission_denied(request, exception or DjangoPermissionDenied())


def json_server_error(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(error_body("server_error", "Something went wrong on our side."), status=500)
    return defaults.server_error(request)
