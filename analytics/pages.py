"""What every dashboard page shares, whichever app serves it (analytics owns the dashboard's layout)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as PageForbidden
from django.http import Http404, HttpRequest, HttpResponse

from lifecycle.core.exceptions import DomainError, NotFound, PermissionDenied


def page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A signed-in page (anonymous visitors go to the sign-in page) whose services' refusals are the pages'
    403 and 404 (the API answers them as JSON)."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied as refusal:
            raise PageForbidden(str(refusal)) from refusal
        except NotFound as missing:
            raise Http404(str(missing)) from missing
        except DomainError as refusal:  # any other rule of the product: its status, said in plain text
            return HttpResponse(refusal.message, status=refusal.status, content_type="text/plain; charset=utf-8")

    return wrapped
