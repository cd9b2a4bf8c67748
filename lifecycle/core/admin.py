"""What the apps' admin classes share."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from simple_history.admin import SimpleHistoryAdmin


class NoEditing:
    """No add, change or delete from the admin, for a page or an inline whose rows change only through the
    services (never by an admin form)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(NoEditing, admin.ModelAdmin):
    """To look things up: what it shows changes only through the services (never by an admin form)."""


class QueueAdmin(ReadOnlyAdmin):
    """A list of what waits for the signed-in user (their review queue, what is ready to deploy), titled by
    its name rather than Django's "Select ... to view"."""

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        title = str(self.model._meta.verbose_name_plural).capitalize()
        return super().changelist_view(request, {"title": title, **(extra_context or {})})


class AuditedAdmin(SimpleHistoryAdmin):
    """The history of each object, to read. Its "revert" form would save an old state straight into the
    table, past the services and the state machines, so it only shows; a POST to it is refused. Who made
    each change is named as text to viewers who may not open the user admin."""

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if request.method != "GET":
            raise PermissionDenied("History is read-only: changes go through the product's own forms.")
        return super().history_form_view(request, object_id, version_id, extra_context)

    def revert_disabled(self, request: HttpRequest, obj: Any = None) -> bool:
        return True

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # The list names who changed what: as text for viewers who may not open the user admin
        # (simple-history links every name to it, a 403 for them). It links names through
        # `{% url admin_user_view ... as url %}`: a name that reverses to nothing leaves the link out.
        if not request.user.has_perm("auth.change_user") and not request.user.has_perm("auth.view_user"):
            extra_context = {**(extra_context or {}), "admin_user_view": ""}
        return super().history_view(request, object_id, extra_context)


def username_of(user: Any) -> str:
    """A user as admin pages show them to anyone: the username, as text. A link would lead to the user
    admin, which only superusers may open (anyone else would meet a bare 403)."""
    return user.get_username() if user is not None else "-"


def json_shown(value: object) -> SafeString:
    """A JSON value (evidence, metrics, a payload) as admin pages show it: indented, escaped, in <pre>."""
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))
