"""The Content-Security-Policy of the browser pages we write (the dashboard): django-csp's middleware, applied
to the paths in settings.CSP_PATH_PREFIXES only.

Only there: the admin's pages (ours carry inline styles) and the API docs page (Swagger UI's inline script)
would break under a strict policy, and the render path must not pay for building a header it does not need
(the check below costs a string comparison; django-csp builds the policy before its own exclusions).
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase


class PagesCSPMiddleware(CSPMiddleware):
    def process_request(self, request: HttpRequest) -> None:
        if request.path_info.startswith(settings.CSP_PATH_PREFIXES):
            super().process_request(request)

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if not request.path_info.startswith(settings.CSP_PATH_PREFIXES):
            return response
        return super().process_response(request, response)
