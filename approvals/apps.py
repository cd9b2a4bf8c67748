from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate

_READ = ["view_approvalrequest", "view_approvalstage", "view_approvalpolicy", "view_policystage"]


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"
    # Reviewers read requests (and decide stages through the services, which check the stage's role);
    # nobody but a superuser edits policies.
    role_permissions = {
        **{role: [*_READ, "view_reviewqueue"] for role in ("technical", "qa", "security", "business")},
        "author": _READ,
        "deployer": _READ,
    }

    def extra_reviewer_groups(self) -> list[str]:
        """Groups that decide a policy stage beyond the built-in reviewer roles (they need the same admin)."""
        from approvals.models import PolicyStage

        built_in = {"technical", "qa", "security", "business"}
        return sorted(set(PolicyStage.objects.values_list("role__name", flat=True)) - built_in)

    def ready(self) -> None:
        # Also after a database flush (which a test run does): never a production without its policy.
        post_migrate.connect(_ensure_default_policies, sender=self, dispatch_uid="approvals.default_policies")


def _ensure_default_policies(**kwargs: Any) -> None:
    from django.contrib.auth.models import Group

    from approvals.defaults import ensure_default_policies
    from approvals.models import ApprovalPolicy, PolicyStage

    ensure_default_policies(ApprovalPolicy, PolicyStage, Group)
