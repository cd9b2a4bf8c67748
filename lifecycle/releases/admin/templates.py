"""Templates and versions in the admin (templates_app.admin's classes), registered here: created through the
services that make each new version active in development at once, shown with what is live where, with
the template's whole audit trail as its history, and with the authors' way into review (submitting a
version for staging or production through approvals.services, as the API does)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from approvals import services as approval_services
from lifecycle.core.audit import AuditEntry
from lifecycle.core.environments import Environment
from lifecycle.core.exceptions import DomainError
from lifecycle.core.roles import acting_user
from lifecycle.releases import selectors, services
from lifecycle.releases.parts import dependents_context, updates_available
from templates_app.admin import PromptTemplateAdmin, TemplateVersionAdmin
from templates_app.composition import PartLookup
from templates_app.models import PromptTemplate, TemplateVersion
from templates_app.permissions import may_change

# The environments a version is submitted to from its page (development needs no approval).
SUBMITTABLE = (Environment.STAGING, Environment.PRODUCTION)


@dataclass(frozen=True)
class TrailRow:
    """One entry of a template's audit trail as its history page shows it, with a link to what it is about."""

    entry: AuditEntry
    link: str | None
    link_text: str


@admin.register(PromptTemplate)
class TemplateAdmin(PromptTemplateAdmin):
    readonly_fields = [
        *PromptTemplateAdmin.readonly_fields,
        "live_where",
        "deployments",
        "parts_updates",
        "included_by",
    ]
    trail_per_page = 100

    def create_template(self, request: HttpRequest, **fields: Any) -> PromptTemplate:
        return services.create_template_live_in_development(actor=acting_user(request), **fields)

    def part_lookup(self, environment: str | None) -> PartLookup:
        return services.part_lookup(environment)

    def get_urls(self) -> list[Any]:
        refresh = path(
            "<path:object_id>/refresh-parts/",
            self.admin_site.admin_view(self.refresh_parts_view),
            name="templates_app_prompttemplate_refresh_parts",
        )
        return [refresh, *super().get_urls()]

    def refresh_parts_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The next version with every part at its available update (as `refreshIncludes` over the API):
        on its page, ready to be submitted for review. A refusal is a message on the template's page."""
        if request.method != "POST":
            raise DjangoPermissionDenied
        template = self.get_object(request, unquote(object_id))
        if template is None:
            raise Http404
        page = reverse("admin:templates_app_prompttemplate_change", args=[template.pk])
        updates = updates_available(template.latest_version) if template.latest_version is not None else []
        try:
            version = services.create_version_live_in_development(
                actor=acting_user(request), template_id=template.pk, definition={}, refresh_includes=True
            )
        except DomainError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(page)
        moved = ", ".join(
            f"{update.include.part_template.name} {update.include.part.number} → {update.available.number}"
            for update in updates
        )
        messages.success(
            request,
            f"Version {version.number} made with its parts refreshed ({moved}). It serves development only: "
            "submit it for review to take it further.",
        )
        return HttpResponseRedirect(reverse("admin:templates_app_templateversion_change", args=[version.pk]))

    @admin.display(description="updates available")
    def parts_updates(self, template: PromptTemplate) -> str:
        if template.latest_version is None or template.latest_version.source is None:
            return "It includes no other template."
        updates = updates_available(template.latest_version)
        if not updates:
            return format_html("Every part of {} is at its available version.", template.latest_version.number)
        rows = format_html_join(
            "",
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    update.include.reference,
                    update.include.part.number,
                    update.available.number,
                    "newest version" if update.include.pinned else f"active in {update.include.environment}",
                )
                for update in updates
            ),
        )
        return format_html(
            '<table id="updates-available"><thead><tr><th scope="col">part</th><th scope="col">included</th>'
            '<th scope="col">available</th><th scope="col">from</th></tr></thead><tbody>{}</tbody></table>'
            '<p class="help">“Refresh parts” (top right, for its maintainers) makes the next version with '
            "them, for review.</p>",
            rows,
        )

    @admin.display(description="included by")
    def included_by(self, template: PromptTemplate) -> str:
        return render_to_string("admin/releases/dependents.html", dependents_context(template.pk))

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], add: bool = False, change: bool = False, **kwargs: Any
    ) -> Any:
        template = context.get("original")
        if (
            template is not None
            and template.latest_version is not None
            and may_change(acting_user(request), template)
            and updates_available(template.latest_version)
        ):
            context["refresh_parts_url"] = reverse(
                "admin:templates_app_prompttemplate_refresh_parts", args=[template.pk]
            )
        return super().render_change_form(request, context, add=add, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.has_perm("releases.view_deployment"):
            fields.remove("deployments")  # a link to a page they may not open
        return fields

    @admin.display(description="live where")
    def live_where(self, template: PromptTemplate) -> str:
        active = selectors.active_deployments_of(template.pk)
        rows = []
        for environment in Environment.values:
            deployment = active.get(environment)
            if deployment is None:
                rows.append((environment, "nothing active", "", ""))
                continue
            url = reverse("admin:templates_app_templateversion_change", args=[deployment.version_id])
            rows.append(
                (
                    environment,
                    format_html('<a href="{}">{}</a>', url, deployment.version.number),
                    deployment.deployed_at.strftime("%Y-%m-%d %H:%M"),
                    deployment.deployed_by_name,
                )
            )
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
        return format_html(
            '<table id="live-where"><thead><tr><th>environment</th><th>active version</th><th>since</th>'
            "<th>deployed by</th></tr></thead><tbody>{}</tbody></table>",
            body,
        )

    @admin.display(description="deployments")
    def deployments(self, template: PromptTemplate) -> str:
        url = reverse("admin:releases_deployment_changelist")
        return format_html('<a href="{}?template__id__exact={}">every deployment, by environment</a>', url, template.pk)

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> Any:
        """Everything that happened to the template, as GET /api/templates/{id}/history answers it (newest
        first): its edits, versions, approval requests, stage decisions, comments, deployments and rollbacks."""
        template = self.get_object(request, unquote(object_id))
        if template is None:
            raise Http404
        if not self.has_view_or_change_permission(request, template):
            raise DjangoPermissionDenied
        page = Paginator(selectors.audit_trail_for_template(template.pk), self.trail_per_page).get_page(
            request.GET.get("p")
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"History: {template}",
            "subtitle": None,
            "opts": self.opts,
            "module_name": self.opts.verbose_name_plural.capitalize(),
            "object": template,
            "page_obj": page,
            "page_range": page.paginator.get_elided_page_range(page.number),
            "rows": self._trail_rows(request, template, list(page.object_list)),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/templates_app/prompttemplate/audit_trail.html", context)

    def _trail_rows(self, request: HttpRequest, template: PromptTemplate, entries: list[AuditEntry]) -> list[TrailRow]:
        may_see_requests = request.user.has_perm("approvals.view_approvalrequest")
        may_see_deployments = request.user.has_perm("releases.view_deployment")
        may_see_rollbacks = request.user.has_perm("releases.view_rollback")
        stage_requests = selectors.approval_requests_of_stages(
            int(entry.subject_id) for entry in entries if entry.subject == "approval stage"
        )

        def row(entry: AuditEntry) -> TrailRow:
            if entry.subject == "template":
                url = reverse("admin:templates_app_prompttemplate_simple_history", args=[template.pk, entry.sequence])
                return TrailRow(entry, url, "as it was")
            if entry.subject == "version":
                url = reverse("admin:templates_app_templateversion_change", args=[entry.subject_id])
                return TrailRow(entry, url, "the version")
            if entry.subject in ("approval", "approval comment", "approval stage") and may_see_requests:
                request_id = (
                    stage_requests.get(int(entry.subject_id)) if entry.subject == "approval stage" else entry.subject_id
                )
                if request_id is not None:
                    url = reverse("admin:approvals_approvalrequest_change", args=[request_id])
                    return TrailRow(entry, url, "the request")
            if entry.subject == "deployment" and may_see_deployments:
                url = reverse("admin:releases_deployment_change", args=[entry.subject_id])
                return TrailRow(entry, url, "the deployment")
            if entry.subject == "rollback" and may_see_rollbacks:
                url = reverse("admin:releases_rollback_change", args=[entry.subject_id])
                return TrailRow(entry, url, "the rollback")
            return TrailRow(entry, None, "")

        return [row(entry) for entry in entries]


@admin.register(TemplateVersion)
class VersionAdmin(TemplateVersionAdmin):
    change_form_template = "admin/templates_app/templateversion/releases_change_form.html"

    def create_version(self, request: HttpRequest, **fields: Any) -> TemplateVersion:
        return services.create_version_live_in_development(actor=acting_user(request), **fields)

    def part_lookup(self, environment: str | None) -> PartLookup:
        return services.part_lookup(environment)

    def get_urls(self) -> list[Any]:
        submit = path(
            "<path:object_id>/submit/",
            self.admin_site.admin_view(self.submit_view),
            name="templates_app_templateversion_submit",
        )
        return [submit, *super().get_urls()]

    def submit_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Submit the version for approval in the environment of the button pressed (approvals.services,
        which checks who may); a refusal is a message on the version's page, with nothing changed."""
        if request.method != "POST":
            raise DjangoPermissionDenied
        version = self.get_object(request, unquote(object_id))
        if version is None:
            raise Http404
        if not self.has_view_permission(request, version):
            raise DjangoPermissionDenied
        page = reverse("admin:templates_app_templateversion_change", args=[version.pk])
        environment = request.POST.get("submit_environment", "")
        try:
            approval = approval_services.submit_for_approval(
                actor=acting_user(request), version_id=version.pk, environment=environment
            )
        except DomainError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(page)
        stages = list(approval.stages.select_related("role").order_by("index"))
        messages.success(
            request,
            f"Version {version.number} submitted for {environment}: it waits for the '{stages[0].role.name}' "
            f"review (stage 1 of {len(stages)}).",
        )
        return HttpResponseRedirect(page)

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], add: bool = False, change: bool = False, **kwargs: Any
    ) -> Any:
        version = context.get("original")
        if version is not None:
            context["standing"] = selectors.standing_of_version(version.pk)
            context["may_submit"] = may_change(acting_user(request), version.template)
            context["may_see_requests"] = request.user.has_perm("approvals.view_approvalrequest")
            context["submit_url"] = reverse("admin:templates_app_templateversion_submit", args=[version.pk])
        return super().render_change_form(request, context, add=add, change=change, **kwargs)
