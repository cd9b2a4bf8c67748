"""A/B tests in the admin: read-only (they change only through abtesting.services), with their variants
and history; the list's actions start (or resume), pause, stop and cancel tests through those same services,
so every rule of the API holds here too, and a refusal is shown as a message naming the test."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from abtesting import services
from abtesting.models import ABTest, Variant
from abtesting.permissions import may_run_tests
from lifecycle.core.admin import AuditedAdmin, ReadOnlyAdmin, json_shown, username_of
from lifecycle.core.exceptions import DomainError
from lifecycle.core.roles import acting_user


class VariantInline(admin.TabularInline):
    model = Variant
    fields = readonly_fields = ("key", "name", "version", "traffic_percentage", "is_control", "description")
    extra = 0
    can_delete = False
    ordering = ["position"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("template_version")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="version")
    def version(self, variant: Variant) -> str:
        return variant.template_version.number


# Each action: the service, what it did (for the message), and whether only those who run tests see it.
_ACTIONS: dict[str, tuple[Any, str, bool]] = {
    "start": (services.start_test, "started (or resumed)", True),
    "pause": (services.pause_test, "paused", True),
    "stop": (services.stop_test, "stopped", True),
    "cancel": (services.cancel_test, "cancelled", False),
}


def _apply(request: HttpRequest, queryset: QuerySet[ABTest], verb: str) -> None:
    service, done, _ = _ACTIONS[verb]
    actor = acting_user(request)
    changed = []
    for test_id, name in queryset.values_list("pk", "name"):
        try:
            service(actor=actor, test_id=test_id)
        except DomainError as refusal:
            messages.error(request, f"'{name}' was not {done}: {refusal.message}")
        else:
            changed.append(name)
    if changed:
        messages.success(request, f"{', '.join(repr(name) for name in changed)} {done}.")


@admin.register(ABTest)
class ABTestAdmin(ReadOnlyAdmin, AuditedAdmin):
    list_display = ["name", "template", "environment", "state", "variant_count", "created_by_name", "created_at"]
    list_filter = ["state", "environment"]
    search_fields = ["name", "template__name"]
    list_select_related = ["template", "created_by"]
    ordering = ["-created_at"]
    inlines = [VariantInline]
    actions = ["start_tests", "pause_tests", "stop_tests", "cancel_tests"]
    fields = readonly_fields = (
        "name",
        "template",
        "environment",
        "state",
        "description",
        "hypothesis",
        "success_metrics_shown",
        "guardrail_metrics_shown",
        "confidence_level",
        "minimum_sample_size",
        "auto_stop",
        "start_date",
        "end_date",
        "created_by_name",
        "created_at",
        "started_at",
        "paused_at",
        "stopped_at",
        "stopped_by_name",
        "stop_reason",
        "winner",
        "id",
    )

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("variants")

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Offered to whoever may take them; the services decide again for each test.
        actions = super().get_actions(request)
        if not may_run_tests(acting_user(request)):
            for verb, (_, _, runners_only) in _ACTIONS.items():
                if runners_only:
                    actions.pop(f"{verb}_tests", None)
        return actions

    @admin.action(description="Start (or resume) the selected tests")
    def start_tests(self, request: HttpRequest, queryset: QuerySet[ABTest]) -> None:
        _apply(request, queryset, "start")

    @admin.action(description="Pause the selected tests")
    def pause_tests(self, request: HttpRequest, queryset: QuerySet[ABTest]) -> None:
        _apply(request, queryset, "pause")

    @admin.action(description="Stop the selected tests (completed)")
    def stop_tests(self, request: HttpRequest, queryset: QuerySet[ABTest]) -> None:
        _apply(request, queryset, "stop")

    @admin.action(description="Cancel the selected tests")
    def cancel_tests(self, request: HttpRequest, queryset: QuerySet[ABTest]) -> None:
        _apply(request, queryset, "cancel")

    @admin.display(description="variants")
    def variant_count(self, test: ABTest) -> int:
        return len(test.variants.all())

    @admin.display(description="created by")
    def created_by_name(self, test: ABTest) -> str:
        return username_of(test.created_by)

    @admin.display(description="stopped by")
    def stopped_by_name(self, test: ABTest) -> str:
        return username_of(test.stopped_by)

    @admin.display(description="success metrics")
    def success_metrics_shown(self, test: ABTest) -> str:
        return json_shown(test.success_metrics)

    @admin.display(description="guardrail metrics")
    def guardrail_metrics_shown(self, test: ABTest) -> str:
        return json_shown(test.guardrail_metrics) if test.guardrail_metrics else "—"
