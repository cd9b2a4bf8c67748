"""Rollbacks in the admin: read-only records (they happen only through lifecycle.releases.services, from the
API or a rule), with their history. Listed on the index for those who roll back: deployers and security."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from approvals.admin import listed_perms, when
from lifecycle.core.admin import AuditedAdmin, ReadOnlyAdmin, json_shown
from lifecycle.core.roles import acting_user, has_role
from lifecycle.releases.models import Rollback
from lifecycle.releases.permissions import ROLL_BACK_IN_EMERGENCY


@admin.register(Rollback)
class RollbackAdmin(ReadOnlyAdmin, AuditedAdmin):
    list_display = ["template_and_move", "environment", "type", "state", "by", "finished"]
    list_filter = ["environment", "type", "state"]
    search_fields = ["template__name", "reason"]
    ordering = ["-requested_at"]
    list_select_related = ["template", "from_version", "to_version", "initiated_by"]
    fields = readonly_fields = (
        "template",
        "environment",
        "type",
        "state",
        "from_version",
        "to_version",
        "reason",
        "initiated_by_name",
        "forced",
        "requested_at",
        "started_at",
        "finished_at",
        "failure_reason",
        "verification",
        "metrics_shown",
        "evidence_shown",
        "from_deployment",
        "to_deployment",
        "id",
    )

    def get_model_perms(self, request: HttpRequest) -> dict[str, bool]:
        acts = has_role(acting_user(request), *ROLL_BACK_IN_EMERGENCY)
        return listed_perms(request, super().get_model_perms(request), acts_on_it=acts)

    @admin.display(description="template: from → to", ordering="template__name")
    def template_and_move(self, rollback: Rollback) -> str:
        return f"{rollback.template.name}: {rollback.from_version.number} → {rollback.to_version.number}"

    @admin.display(description="by")
    def by(self, rollback: Rollback) -> str:
        return rollback.initiated_by_name

    @admin.display(description="finished", ordering="finished_at")
    def finished(self, rollback: Rollback) -> str:
        return when(rollback.finished_at)

    @admin.display(description="initiated by")
    def initiated_by_name(self, rollback: Rollback) -> str:
        return rollback.initiated_by_name

    @admin.display(description="post-rollback check")
    def verification(self, rollback: Rollback) -> str:
        if rollback.verified_at is None:
            return "not checked"
        verdict = "render serves the target" if rollback.serves_target else "render did NOT serve the target"
        return f"{verdict} ({when(rollback.verified_at)})"

    @admin.display(description="metrics of the rolled-back version at that moment")
    def metrics_shown(self, rollback: Rollback) -> str:
        return json_shown(rollback.metrics)

    @admin.display(description="evidence")
    def evidence_shown(self, rollback: Rollback) -> str:
        return json_shown(rollback.evidence) if rollback.evidence else "—"
