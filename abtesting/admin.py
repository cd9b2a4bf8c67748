"""A/B tests in the admin: read-only (they change only through abtesting.services), with their variants,
their results (abtesting.results, as GET /api/abtests/{id}/results answers them) and history; the list's
actions start (or resume), pause, stop and cancel tests through those same services, so every rule of the
API holds here too, and a refusal is shown as a message naming the test.

Registered by lifecycle.releases.admin.abtests, which adds promotion (it deploys: a layer above this app)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from abtesting import services
from abtesting.models import ABTest, Variant
from abtesting.permissions import may_run_tests
from abtesting.results import results_for
from lifecycle.core.admin import AuditedAdmin, NoEditing, ReadOnlyAdmin, json_shown, username_of
from lifecycle.core.exceptions import DomainError
from lifecycle.core.roles import acting_user


class VariantInline(NoEditing, admin.TabularInline):
    model = Variant
    fields = readonly_fields = ("key", "name", "version", "traffic_percentage", "is_control", "description")
    extra = 0
    can_delete = False
    ordering = ["position"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("template_version")

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


class ABTestAdmin(ReadOnlyAdmin, AuditedAdmin):
    list_display = ["name", "template", "environment", "state", "variant_count", "created_by_name", "created_at"]
    list_per_page = 25  # the results of each running test on the page are computed for the list
    change_form_template = "admin/abtesting/abtest/change_form.html"
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

    def get_list_display(self, request: HttpRequest) -> Any:
        # A callable bound to the signed-in user: what the results say depends on who may read them.
        return [*super().get_list_display(request), results_column(acting_user(request))]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {**(extra_context or {}), **self.results_context(request, object_id)}
        return super().change_view(request, object_id, form_url, context)

    def results_context(self, request: HttpRequest, object_id: str) -> dict[str, Any]:
        """The test's results for the page (template admin/abtesting/abtest/change_form.html), or why the
        signed-in user may not read them."""
        try:
            test_id = UUID(object_id)
        except ValueError:
            return {}
        try:
            return {"test_id": test_id, "results": results_for(actor=acting_user(request), test_id=test_id)}
        except DomainError as refusal:
            return {"test_id": test_id, "results_refused": refusal.message}

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


def results_column(actor: Any) -> Callable[[ABTest], str]:
    """The list's "results" column: what a running or paused test's results recommend, a finished test's
    winner. Empty for a draft, and for those who may not read the template's numbers."""

    @admin.display(description="results")
    def results(test: ABTest) -> str:
        if test.state == ABTest.State.COMPLETED:
            return f"winner: {test.winner}" if test.winner else "completed without a winner"
        if test.state not in (ABTest.State.RUNNING, ABTest.State.PAUSED):
            return "—"
        try:
            answer = results_for(actor=actor, test_id=test.pk)
        except DomainError:
            return "—"
        recommendation = answer["recommendation"]["action"].replace("_", " ")
        executions = sum(row["executions"] for row in answer["variantResults"])
        winner = f", winner {answer['winner']}" if answer["winner"] else ""
        return f"{recommendation}{winner} ({executions:,} executions)"

    return results
