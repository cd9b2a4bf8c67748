"""Django's messages (the admin's and the dashboard's notices after an action), for the pages only.

The API never shows one, and the messages middleware builds its storage on every request, a signed
cookie reader included: about a tenth of render's own time in the process. Outside /api/ it runs as
Django's own; under /api/ it does nothing (its process_response already skips a request without storage).
"""

from __future__ import annotations

from django.contrib.messages.middleware import MessageMiddleware
from django.http import HttpRequest

API_PREFIX = "/api/"


class PagesMessageMiddleware(MessageMiddleware):
    def process_request(self, request: HttpRequest) -> None:
        if not request.path_info.startswith(API_PREFIX):
            super().process_request(request)
