"""A/B tests in the admin (abtesting.admin's class), registered here with promotion: a "Promote…" link per
variant on a running or paused test's page leads to a confirmation page, whose button calls
lifecycle.releases.services.promote_variant as POST /api/abtests/{id}/promote does (the variant's version
deployed to the test's environment, the test completed with it as the winner, in one transaction)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse

from abtesting.admin import ABTestAdmin
from abtesting.models import ABTest
from abtesting.permissions import may_run_tests
from approvals.admin import confirmation_page
from lifecycle.core.exceptions import DomainError
from lifecycle.core.roles import acting_user
from lifecycle.releases import selectors, services

_PROMOTABLE = (ABTest.State.RUNNING, ABTest.State.PAUSED)


@admin.register(ABTest)
class PromotingABTestAdmin(ABTestAdmin):
    def get_urls(self) -> list[Any]:
        promote = path(
            "<path:object_id>/promote/", self.admin_site.admin_view(self.promote_view), name="abtesting_abtest_promote"
        )
        return [promote, *super().get_urls()]

    def results_context(self, request: HttpRequest, object_id: str) -> dict[str, Any]:
        context = super().results_context(request, object_id)
        # Offered to those who run tests, on a test that may still end with a winner (with its results, or
        # without them for a deployer who may not read the template's numbers); the service decides.
        test_id = context.get("test_id")
        promotable = test_id is not None and ABTest.objects.filter(pk=test_id, state__in=_PROMOTABLE).exists()
        if promotable and may_run_tests(acting_user(request)):
            context["promote_url"] = reverse("admin:abtesting_abtest_promote", args=[object_id])
        return context

    def promote_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET ?variant=<id>: what promoting it changes, and a button to confirm. POST with confirm=yes:
        promote, through the same service as the API; a refusal is a message, and nothing changes."""
        if not self.has_view_permission(request):
            raise DjangoPermissionDenied
        try:
            test = ABTest.objects.select_related("template").get(pk=uuid.UUID(object_id))
        except (ValueError, ABTest.DoesNotExist):
            raise Http404 from None
        page = reverse("admin:abtesting_abtest_change", args=[test.pk])
        key = request.POST.get("variant") or request.GET.get("variant") or ""
        variant = test.variants.select_related("template_version").filter(key=key).first()
        if variant is None:
            messages.error(request, f"'{test.name}' has no variant '{key}'.")
            return HttpResponseRedirect(page)
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            try:
                services.promote_variant(actor=acting_user(request), test_id=test.pk, variant_key=variant.key)
            except DomainError as refusal:
                messages.error(request, f"{variant.key} was not promoted: {refusal.message}")
            else:
                messages.success(
                    request,
                    f"{variant.key} promoted: {variant.template_version.number} serves {test.environment} now, "
                    f"and '{test.name}' is completed with it as the winner.",
                )
            return HttpResponseRedirect(page)
        if test.state not in _PROMOTABLE:
            messages.warning(request, f"'{test.name}' is {test.state}: only a running or paused test is promoted.")
            return HttpResponseRedirect(page)
        serving = selectors.active_deployments_of(test.template_id).get(test.environment)
        version = variant.template_version
        return confirmation_page(
            request,
            self.admin_site,
            title=f"Promote {variant.key} of '{test.name}'?",
            back_url=page,
            back_title=test.name,
            action_url=reverse("admin:abtesting_abtest_promote", args=[test.pk]),
            hidden=[("variant", variant.key)],
            facts=[
                ("Test", f"{test.name} ({test.state})"),
                ("Variant", f"{variant.key}: {variant.name or version.number}"),
                ("Its version", str(version)),
                ("Environment", test.environment),
                ("Serving there now", serving.version.number if serving else "nothing yet"),
            ],
            consequence=(
                f"From the moment you confirm, every integration rendering {test.template.name} in "
                f"{test.environment} gets {version.number}, for every subject, and the test is completed with "
                f"{variant.key} as its winner (a rollback can bring the previous version back)."
            ),
            button=f"Promote {variant.key} ({version.number}) to {test.environment}",
            danger=False,
        )
