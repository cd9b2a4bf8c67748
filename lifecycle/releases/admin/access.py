"""The access review in the admin, for superusers: the same review as `manage.py access_report`."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse

from lifecycle.core.roles import acting_user
from lifecycle.releases.access import STALE_AFTER_DAYS, access_review
from lifecycle.releases.models import AccessReview


@admin.register(AccessReview)
class AccessReviewAdmin(admin.ModelAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The review's list only: a user's own page (their password hash among its fields) is not this page's.
        return obj is None and self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied  # Django's: the admin's 403 page
        users = access_review(acting_user(request))
        context = {
            **self.admin_site.each_context(request),
            "title": "Access review",
            "opts": self.model._meta,
            "users": users,
            "flagged": sum(1 for user in users if user.flags),
            "stale_days": STALE_AFTER_DAYS,
        }
        return TemplateResponse(request, "admin/releases/access_review.html", context)
