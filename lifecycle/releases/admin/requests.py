"""Approval requests in the admin (approvals.admin's class), registered here: the diff against the version the
request's environment serves now."""

from __future__ import annotations

from django.contrib import admin

from approvals.admin import ApprovalRequestAdmin
from approvals.models import ApprovalRequest
from lifecycle.releases import selectors
from templates_app.models import TemplateVersion


@admin.register(ApprovalRequest)
class RequestAdmin(ApprovalRequestAdmin):
    def version_active_in(self, approval: ApprovalRequest) -> TemplateVersion | None:
        deployment = selectors.active_deployments_of(approval.version.template_id).get(approval.environment)
        return deployment.version if deployment is not None else None
