"""What is live where, in the admin: the deployers' "Ready to deploy" queue, with a deploy button (after a
confirmation) that calls lifecycle.releases.services.deploy_version as the API does, and the deployments,
read-only, since every change of what is live goes through a service."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

from approvals.admin import confirmation_page, listed_perms, request_page, when
from approvals.models import ApprovalRequest
from lifecycle.core.admin import AuditedAdmin, QueueAdmin, ReadOnlyAdmin
from lifecycle.core.exceptions import DomainError
from lifecycle.core.roles import Role, acting_user, has_role
from lifecycle.releases import selectors, services
from lifecycle.releases.exceptions import NotApproved
from lifecycle.releases.models import Deployment, ReadyToDeploy


def _number(item: Any) -> str | None:
    if item.active_major is None:
        return None
    return f"{item.active_major}.{item.active_minor}.{item.active_patch}"


@admin.register(ReadyToDeploy)
class ReadyToDeployAdmin(QueueAdmin):
    """Approved requests whose version is not deployed to their environment yet, oldest approval first."""

    list_display = ["template_and_version", "environment", "approved", "serving_now", "submitted_by", "deploy"]
    list_display_links = None

    def get_queryset(self, request: HttpRequest) -> Any:
        return selectors.ready_to_deploy()

    def get_urls(self) -> list[Any]:
        deploy = path(
            "<path:object_id>/deploy/",
            self.admin_site.admin_view(self.deploy_view),
            name="releases_readytodeploy_deploy",
        )
        return [deploy, *super().get_urls()]

    @admin.display(description="template and version")
    def template_and_version(self, item: Any) -> str:
        return format_html(
            '<a href="{}" id="request-{}">{} {}</a>',
            request_page(item.pk),
            item.pk,
            item.version.template.name,
            item.version.number,
        )

    @admin.display(description="approved")
    def approved(self, item: Any) -> str:
        return f"{timesince(item.decided_at, timezone.now())} ago" if item.decided_at else "—"

    @admin.display(description="serving there now")
    def serving_now(self, item: Any) -> str:
        return _number(item) or "nothing yet"

    @admin.display(description="")
    def deploy(self, item: Any) -> str:
        # Everyone who sees this queue deploys (it is the deployer role's); the confirmation page checks the
        # service's rules for the one request before offering its button.
        url = reverse("admin:releases_readytodeploy_deploy", args=[item.pk])
        return format_html('<a href="{}" id="deploy-{}" class="button">Deploy…</a>', url, item.pk)

    def deploy_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET: what the deploy changes, and a button to confirm it. POST with confirm=yes: deploy, through
        the same service as the API; a refusal is a message, and nothing changes."""
        if not self.has_view_permission(request):
            raise DjangoPermissionDenied
        try:
            approval = ApprovalRequest.objects.select_related("version__template").get(pk=uuid.UUID(object_id))
        except (ValueError, ApprovalRequest.DoesNotExist):
            raise Http404 from None
        queue = reverse("admin:releases_readytodeploy_changelist")
        actor, version, environment = acting_user(request), approval.version, approval.environment
        # A page left open may be stale: deploying an old approval again would replace what serves now.
        if not selectors.ready_to_deploy().filter(pk=approval.pk).exists():
            messages.warning(request, f"{version} for {environment} is not waiting for a deploy: see its request.")
            return HttpResponseRedirect(request_page(approval.pk))
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            try:
                services.deploy_version(actor=actor, version_id=version.pk, environment=environment)
            except DomainError as exc:
                messages.error(request, _deploy_refusal(exc, approval))
                return HttpResponseRedirect(queue)
            messages.success(request, f"{version} deployed to {environment}: it serves there now.")
            return HttpResponseRedirect(queue)
        refusal = services.refusal_to_deploy(actor=actor, version=version, environment=environment)
        if refusal is not None:
            messages.error(request, _deploy_refusal(refusal, approval))
            return HttpResponseRedirect(queue)
        serving = selectors.active_deployments_of(version.template_id).get(environment)
        return confirmation_page(
            request,
            self.admin_site,
            title=f"Deploy {version} to {environment}?",
            back_url=queue,
            back_title="Ready to deploy",
            action_url=reverse("admin:releases_readytodeploy_deploy", args=[approval.pk]),
            hidden=[],
            facts=[
                ("Template and version", str(version)),
                ("Environment", environment),
                ("Serving there now", serving.version.number if serving else "nothing yet"),
                ("Approved", when(approval.decided_at)),
            ],
            consequence=(
                f"From the moment you confirm, every integration rendering {version.template.name} in {environment} "
                f"gets {version.number}"
                + (f" instead of {serving.version.number} (a rollback can bring it back)." if serving else ".")
            ),
            button=f"Deploy {version.number} to {environment}",
            danger=False,
        )


def _deploy_refusal(error: DomainError, approval: ApprovalRequest) -> str:
    if isinstance(error, NotApproved):  # its API message points to the API's endpoints
        return f"{approval.version} is not approved for {approval.environment}."
    return error.message


@admin.register(Deployment)
class DeploymentAdmin(ReadOnlyAdmin, AuditedAdmin):
    """Few and short columns, so that the list fits a laptop screen beside its filters; the ids at the end."""

    list_display = ["template_and_version", "environment", "status", "deployed", "ended"]
    list_filter = ["environment", "state", "kind"]
    ordering = ["template__name", "environment", "-deployed_at"]
    search_fields = ["template__name"]
    list_select_related = ["template", "version", "deployed_by", "ended_by"]
    fields = readonly_fields = (
        "template",
        "version",
        "environment",
        "state",
        "kind",
        "reason",
        "deployed_by_name",
        "deployed_at",
        "ended_by_name",
        "ended_at",
        "rolled_back_by_rule",
        "id",
    )

    def get_model_perms(self, request: HttpRequest) -> dict[str, bool]:
        # Everyone reads them (templates' pages link here); the index lists them for those who deploy.
        acts = has_role(acting_user(request), Role.DEPLOYER)
        return listed_perms(request, super().get_model_perms(request), acts_on_it=acts)

    @admin.display(description="template and version", ordering="template__name")
    def template_and_version(self, deployment: Deployment) -> str:
        return f"{deployment.template.name} {deployment.version.number}"

    @admin.display(description="state", ordering="state")
    def status(self, deployment: Deployment) -> str:
        state = deployment.get_state_display().lower().replace("_", " ")  # type: ignore[attr-defined]
        if deployment.kind == Deployment.Kind.DEPLOY:
            return state
        how = deployment.get_kind_display().lower().replace("_", " ")  # type: ignore[attr-defined]
        return f"{state} ({how})"

    @admin.display(description="deployed", ordering="deployed_at")
    def deployed(self, deployment: Deployment) -> str:
        return f"{when(deployment.deployed_at)} by {deployment.deployed_by_name}"

    @admin.display(description="ended", ordering="ended_at")
    def ended(self, deployment: Deployment) -> str:
        if deployment.ended_at is None:
            return "—"
        by = f" by {deployment.ended_by_name}" if deployment.ended_by_name else ""
        return f"{when(deployment.ended_at)}{by}"

    @admin.display(description="deployed by")
    def deployed_by_name(self, deployment: Deployment) -> str:
        return deployment.deployed_by_name

    @admin.display(description="ended by")
    def ended_by_name(self, deployment: Deployment) -> str:
        return deployment.ended_by_name or "—"
