"""Templates and versions in the admin (templates_app.admin's classes), registered here: created through the
services that make each new version active in development at once, and shown with their deployments."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from lifecycle.core.roles import acting_user
from lifecycle.releases import services
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
