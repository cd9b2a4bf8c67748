"""A short way through an API view for its most common request, and DRF's full way for everything else.

Render runs on every LLM call of every integration. DRF's per-request machinery (its Request wrapper,
negotiation, authenticator and permission objects, Response rendering) costs more than the render itself.
A view with this mixin first tries `serve_fast` for the request integrations send: `Authorization: Token`,
a JSON body within the size limit. `serve_fast` authenticates the token itself (so that it can ask its
own question in the same database round trip) and counts it against its rate limit. Whenever anything is
off (a key that may not authenticate, a request over its rate, bad JSON, a domain error), it hands the
request to DRF's normal dispatch, which answers it exactly as any other endpoint would; so every error body
still comes from lifecycle.core.api.errors, and the short way needs no error handling of its own. The price
of an error is one extra parse, paid only by bad requests.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from rest_framework.exceptions import ParseError, Throttled
from rest_framework.permissions import IsAuthenticated

from lifecycle.core.api.authentication import Credential, token_of
from lifecycle.core.api.errors import throttled_response
from lifecycle.core.api.parsers import parse_json_object
from lifecycle.core.api.throttling import ClientRateThrottle, admit_token
from lifecycle.core.exceptions import DomainError


def _json_body(request: HttpRequest) -> dict[str, Any] | None:
    content_type = request.META.get("CONTENT_TYPE", "")
    if content_type != "application/json" and not content_type.startswith("application/json;"):
        return None
    length = request.META.get("CONTENT_LENGTH", "")
    if not length.isdigit() or int(length) > settings.MAX_REQUEST_BODY_BYTES:
        return None
    try:
        return parse_json_object(request.body)  # request.body keeps the bytes for DRF if we hand over
    except ParseError:
        return None


class FastPathMixin:
    """Mix into an APIView and implement `serve_fast`; see the module docstring."""

    fast_methods: tuple[str, ...] = ("POST",)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The short way checks only what serve_fast checks: that the caller is an active, authenticated
        # user, within the project's rate limit (admit). A permission or throttle added to the view later
        # would be skipped by it, so refuse one.
        permissions = list(getattr(cls, "permission_classes", []))
        if permissions != [IsAuthenticated] or list(getattr(cls, "throttle_classes", [])) != [ClientRateThrottle]:
            raise ImproperlyConfigured(
                f"{cls.__name__}: the fast path enforces IsAuthenticated and ClientRateThrottle only; add other "
                "permissions or throttles to serve_fast as well, then to this check."
            )

    def admit(self, request: HttpRequest, credential: Credential) -> None:
        """Authenticate the request as `credential`, as DRF would, and count it against its rate limit (the
        view's throttle_scope): Throttled if over, which the short way answers itself (429, Retry-After)."""
        admit_token(request, credential, getattr(self, "throttle_scope", None) or "user")
        request.user = credential.user

    def serve_fast(self, request: HttpRequest, token: str, data: dict[str, Any], **kwargs: Any) -> Any | None:
        """The response body for a well-formed request, or None to let DRF answer.

        It must authenticate `token` (a key that may not authenticate: return None) and `admit` the request,
        as DRF would.
        """
        raise NotImplementedError

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method in self.fast_methods:
            token = token_of(request.META.get("HTTP_AUTHORIZATION"))
            data = _json_body(request) if token is not None else None
            if token is not None and data is not None:
                try:
                    body = self.serve_fast(request, token, data, **kwargs)
                except DomainError:
                    body = None  # DRF's way raises it again and shapes the answer
                except Throttled as over:
                    # Answered here: over its limit, a request must cost less than one within it, not a
                    # second lookup and count on DRF's way.
                    return throttled_response(over)
                if body is not None:
                    return HttpResponse(
                        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
                        content_type="application/json",
                    )
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
