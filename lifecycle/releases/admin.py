"""Deployments in the admin: read-only, since every change of what is live goes through a service."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from lifecycle.core.admin import AuditedAdmin
from lifecycle.releases.models import Deployment


@admin.register(Deployment)
class DeploymentAdmin(AuditedAdmin):
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
