"""Domain errors. Each carries a stable `code` and an HTTP status; lifecycle.core.api.errors shapes the body.

Apps subclass these for their own rules (e.g. templates_app.exceptions), so a service can raise a
meaningful error and the API, the admin and Celery tasks all report it the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class DomainError(Exception):
    """A rule of the product refused the request."""

    code: str = "error"
    status: int = 400
    message: str = "The request was refused."

    def __init__(self, message: str | None = None, *, fields: Mapping[str, Sequence[str]] | None = None) -> None:
        self.message = message or type(self).message
        self.fields = {key: list(value) for key, value in (fields or {}).items()}
        super().__init__(self.message)


class InvalidInput(DomainError):
    code, status, message = "invalid", 400, "Invalid input."

    @classmethod
    def of(cls, problems: Mapping[str, Sequence[str]]) -> InvalidInput:
        """An error about several fields; `message` names the first."""
        path, messages = next(iter(problems.items()))
        return cls(f"Invalid input: {path}: {messages[0]}", fields=problems)

    @classmethod
    def at(cls, field: str, message: str) -> InvalidInput:
        """An error about one field, its message also naming the field for humans reading `message`."""
        return cls(f"Invalid input: {field}: {message}", fields={field: [message]})


class PermissionDenied(DomainError):
    code, status, message = "permission_denied", 403, "You do not have permission to do this."


class NotFound(DomainError):
    code, status, message = "not_found", 404, "Not found."


class Conflict(DomainError):
    code, status, message = "conflict", 409, "The request conflicts with the current state."
