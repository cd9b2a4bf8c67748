"""Approval requests in the admin (approvals.admin's class), registered here: the diff against the version the
request's environment serves now, and whether (and when) the approved version was deployed there, with the
deploy button for whoever may deploy it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse

from approvals.admin import ApprovalRequestAdmin, when
from approvals.models import ApprovalRequest
from lifecycle.core.roles import acting_user
from lifecycle.releases import selectors, services
from lifecycle.releases.parts import dependents_context
from templates_app.models import TemplateVersion


@admin.register(ApprovalRequest)
class RequestAdmin(ApprovalRequestAdmin):
    change_form_template = "admin/releases/request_change_form.html"
    list_display = [*ApprovalRequestAdmin.list_display, "deployed"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return selectors.with_first_deployment(super().get_queryset(request))

    def version_active_in(self, approval: ApprovalRequest) -> TemplateVersion | None:
        deployment = selectors.active_deployments_of(approval.version.template_id).get(approval.environment)
        return deployment.version if deployment is not None else None

    @admin.display(description="deployed", ordering="deployed_at")
    def deployed(self, approval: Any) -> str:
        if approval.deployed_at is not None:
            return when(approval.deployed_at)
        return "not yet" if approval.state == ApprovalRequest.State.APPROVED else "—"

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        approval = context.get("original")
        if approval is not None:
            context.update(dependents_context(approval.version.template_id))
        if approval is not None and approval.state == ApprovalRequest.State.APPROVED:
            deployment = selectors.deployment_of_request(approval)
            context["deployment"] = deployment
            refusal = services.refusal_to_deploy(
                actor=acting_user(request), version=approval.version, environment=approval.environment
            )
            if deployment.deployed_at is None and refusal is None:
                context["deploy_url"] = reverse("admin:releases_readytodeploy_deploy", args=[approval.pk])
        return super().render_change_form(request, context, *args, **kwargs)
