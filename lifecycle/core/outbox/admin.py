"""Deliveries and their attempts, to read, for superusers: what was sent where, and what each receiver said.

Registered by CoreConfig.ready (the admin's autodiscovery imports only lifecycle.core.admin).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.safestring import SafeString

from lifecycle.core.admin import NoEditing, ReadOnlyAdmin, json_shown
from lifecycle.core.outbox.models import Delivery, DeliveryAttempt


def _superuser(request: HttpRequest) -> bool:
    # Payloads describe templates and releases of every team, and URLs may carry tokens: superusers only.
    return request.user.is_active and request.user.is_superuser


class DeliveryAttemptInline(NoEditing, admin.TabularInline):
    model = DeliveryAttempt
    fields = ("number", "attempted_at", "status_code", "error", "duration_ms")
    readonly_fields = fields
    ordering = ("number",)
    extra = 0
    can_delete = False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _superuser(request)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "event", "channel", "target", "state", "attempts", "next_attempt_at", "last_error")
    list_filter = ("state", "channel", "event")
    search_fields = ("event", "webhook_url", "source")
    date_hierarchy = "created_at"
    # Never the webhook secret: it signs every delivery of its subscription.
    fields = (
        "id",
        "event",
        "channel",
        "target",
        "subject",
        "source",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
        "created_at",
        "delivered_at",
        "failed_at",
        "payload_json",
    )
    readonly_fields = fields
    inlines = [DeliveryAttemptInline]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _superuser(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _superuser(request)

    @admin.display(description="target")
    def target(self, delivery: Delivery) -> str:
        return delivery.target

    @admin.display(description="payload")
    def payload_json(self, delivery: Delivery) -> SafeString:
        return json_shown(delivery.payload)
