"""The admin pages that need what is live where, registered here because this app may import every app:

- templates and versions (templates_app.admin's classes): created through the services that make each
  new version active in development at once, and shown with their deployments;
- approval requests (approvals.admin's class): the diff against the version the environment serves now;
- deployments: read-only, since every change of what is live goes through a service.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from approvals.admin import ApprovalRequestAdmin
from approvals.models import ApprovalRequest
from lifecycle.core.admin import AuditedAdmin, ReadOnlyAdmin
from lifecycle.core.roles import acting_user
from lifecycle.releases import selectors, services
from lifecycle.releases.models import Deployment
from templates_app.admin import PromptTemplateAdmin, TemplateVersionAdmin
from templates_app.models import PromptTemplate, TemplateVersion


@admin.register(PromptTemplate)
class TemplateAdmin(PromptTemplateAdmin):
    readonly_fields = [*PromptTemplateAdmin.readonly_fields, "deployments"]

    def create_template(self, request: HttpRequest, **fields: Any) -> PromptTemplate:
        return services.create_template_live_in_development(actor=acting_user(request), **fields)

    @admin.display(description="deployments")
    def deployments(self, template: PromptTemplate) -> str:
        url = reverse("admin:releases_deployment_changelist")
        return format_html('<a href="{}?template__id__exact={}">every deployment, by environment</a>', url, template.pk)


@admin.register(TemplateVersion)
class VersionAdmin(TemplateVersionAdmin):
    def create_version(self, request: HttpRequest, **fields: Any) -> TemplateVersion:
        return services.create_version_live_in_development(actor=acting_user(request), **fields)


@admin.register(ApprovalRequest)
class RequestAdmin(ApprovalRequestAdmin):
    def version_active_in(self, approval: ApprovalRequest) -> TemplateVersion | None:
        deployment = selectors.active_deployments_of(approval.version.template_id).get(approval.environment)
        return deployment.version if deployment is not None else None


@admin.register(Deployment)
class DeploymentAdmin(ReadOnlyAdmin, AuditedAdmin):
    list_display = [
        "template",
        "environment",
        "version_number",
        "state",
        "kind",
        "deployed_by",
        "deployed_at",
        "ended_at",
    ]
    list_filter = ["environment", "state", "kind"]
    ordering = ["template__name", "environment", "-deployed_at"]
    search_fields = ["template__name"]
    list_select_related = ["template", "version", "deployed_by"]
    readonly_fields = [
        "id",
        "template",
        "version",
        "environment",
        "state",
        "kind",
        "deployed_by",
        "deployed_at",
        "ended_by",
        "ended_at",
    ]

    @admin.display(description="version")
    def version_number(self, deployment: Deployment) -> str:
        return deployment.version.number
