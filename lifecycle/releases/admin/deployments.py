"""Deployments in the admin: read-only, since every change of what is live goes through a service."""

from __future__ import annotations

from django.contrib import admin

from lifecycle.core.admin import AuditedAdmin, ReadOnlyAdmin
from lifecycle.releases.models import Deployment


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
