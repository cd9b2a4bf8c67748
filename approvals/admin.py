"""The reviewers' admin: their queue, each request's page with approve / reject, and the policies.

Decisions call approvals.services, exactly as the API does: every rule (order, role, author, one decider
per stage) holds here too, and a refusal is shown as a message on the request's page.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

from approvals import services
from approvals.exceptions import ApprovalRequestNotFound
from approvals.models import ApprovalPolicy, ApprovalRequest, ApprovalStage, PolicyStage, ReviewQueue
from approvals.selectors import requests_waiting_for, workflow_history
from lifecycle.core.admin import AuditedAdmin, ReadOnlyAdmin
from lifecycle.core.environments import Environment
from lifecycle.core.exceptions import DomainError
from lifecycle.core.roles import acting_user, sync_role_permissions
from templates_app.diff import diff_versions
from templates_app.diff_display import diff_html
from templates_app.models import TemplateVersion


def _request_link(request: ApprovalRequest, text: str) -> str:
    url = reverse("admin:approvals_approvalrequest_change", args=[request.pk])
    return format_html('<a href="{}">{}</a>', url, text)


@admin.register(ReviewQueue)
class ReviewQueueAdmin(ReadOnlyAdmin):
    """What waits for the signed-in reviewer, oldest first."""

    list_display = ["template_and_version", "environment", "stage", "waiting", "submitted_by"]
    list_display_links = None

    def get_queryset(self, request: HttpRequest) -> Any:
        return requests_waiting_for(acting_user(request))

    @admin.display(description="template and version")
    def template_and_version(self, item: Any) -> str:
        return _request_link(item, f"{item.version.template.name} {item.version.number}")

    @admin.display(description="stage")
    def stage(self, item: Any) -> str:
        return f"{item.current_index}: {item.current_role}"

    @admin.display(description="waiting for")
    def waiting(self, item: Any) -> str:
        return timesince(item.waiting_since, timezone.now())


class StageInline(admin.TabularInline):
    model = ApprovalStage
    fields = readonly_fields = ("index", "role", "state", "decided_by", "comment", "decided_at")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ApprovalRequestAdmin(ReadOnlyAdmin, AuditedAdmin):
    """A request's page: what it asks, its stages and story, and the decision for whoever may take it.
    Registered by lifecycle.releases.admin, whose subclass says which version the environment serves
    now (`version_active_in`) for the diff."""

    change_form_template = "admin/approvals/approvalrequest/change_form.html"
    list_display = ["__str__", "environment", "state", "submitted_by", "submitted_at"]
    list_filter = ["environment", "state"]
    search_fields = ["version__template__name"]
    list_select_related = ["version__template", "submitted_by"]
    inlines = [StageInline]
    fields = readonly_fields = (
        "template",
        "version_number",
        "environment",
        "state",
        "submitted_by",
        "submitted_at",
        "content",
        "variables",
        "diff_against_active",
        "comments",
        "workflow",
    )

    def get_urls(self) -> list[Any]:
        decide = path(
            "<path:object_id>/decide/",
            self.admin_site.admin_view(self.decide_view),
            name="approvals_approvalrequest_decide",
        )
        return [decide, *super().get_urls()]

    def decide_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Approve, reject or comment, through the same services as the API."""
        if request.method != "POST" or not self.has_view_permission(request):
            raise DjangoPermissionDenied
        try:
            request_id = uuid.UUID(object_id)
        except ValueError:
            raise Http404 from None
        page = reverse("admin:approvals_approvalrequest_change", args=[request_id])
        form = DecisionForm(request.POST)
        if not form.is_valid():
            messages.error(request, "; ".join(str(error) for errors in form.errors.values() for error in errors))
            return HttpResponseRedirect(page)
        decision, comment = form.cleaned_data["decision"], form.cleaned_data["comment"]
        try:
            # The request on the page, by its id: never another request of the same version.
            if decision == "comment":
                services.add_comment(actor=acting_user(request), request_id=request_id, body=comment)
                messages.success(request, "Comment added.")
            else:
                decide = services.approve_stage if decision == "approve" else services.reject_stage
                decided = decide(
                    actor=acting_user(request),
                    request_id=request_id,
                    stage_index=form.cleaned_data["stage_index"],
                    comment=comment,
                )
                messages.success(
                    request, f"Stage {form.cleaned_data['stage_index']} {decision}d; the request is {decided.state}."
                )
        except ApprovalRequestNotFound:
            raise Http404 from None
        except DomainError as exc:
            messages.error(request, exc.message)
        return HttpResponseRedirect(page)

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        approval = context.get("original")
        if approval is not None:
            current = approval.stages.filter(state=ApprovalStage.State.WAITING).order_by("index").first()
            if approval.state != ApprovalRequest.State.PENDING:
                current = None
            context["current_stage"] = current
            # The decision is offered only to whoever may take it; anyone else is told why not.
            refusal = current and services.refusal_to_decide(
                actor=acting_user(request), request=approval, stage_index=current.index
            )
            context["refusal"] = refusal.message if refusal else None
            context["decide_url"] = reverse("admin:approvals_approvalrequest_decide", args=[approval.pk])
        return super().render_change_form(request, context, *args, **kwargs)

    @admin.display(description="template")
    def template(self, approval: ApprovalRequest) -> str:
        template = approval.version.template
        url = reverse("admin:templates_app_prompttemplate_change", args=[template.pk])
        return format_html('<a href="{}">{}</a>', url, template.name)

    @admin.display(description="version")
    def version_number(self, approval: ApprovalRequest) -> str:
        url = reverse("admin:templates_app_templateversion_change", args=[approval.version_id])
        return format_html('<a href="{}">{}</a>', url, approval.version.number)

    @admin.display(description="content")
    def content(self, approval: ApprovalRequest) -> str:
        version = approval.version
        text = (
            version.content if version.messages is None else json.dumps(version.messages, indent=2, ensure_ascii=False)
        )
        return format_html("<pre>{}</pre>", text)

    @admin.display(description="variables")
    def variables(self, approval: ApprovalRequest) -> str:
        return format_html("<pre>{}</pre>", json.dumps(approval.version.variables, indent=2, ensure_ascii=False))

    def version_active_in(self, approval: ApprovalRequest) -> TemplateVersion | None:
        """The version of the request's template active in its environment now, if any."""
        raise NotImplementedError

    @admin.display(description="diff against the version active there")
    def diff_against_active(self, approval: ApprovalRequest) -> str:
        version = approval.version
        against = self.version_active_in(approval)
        heading = (
            f"against {against.number}, active in {approval.environment}"
            if against
            else (f"nothing is active in {approval.environment} yet: the whole version")
        )
        return diff_html(diff_versions(against, version), heading)

    @admin.display(description="comments")
    def comments(self, approval: ApprovalRequest) -> str:
        rows = [
            (c.created_at.strftime("%Y-%m-%d %H:%M"), c.author.get_username(), c.body)
            for c in approval.comments.select_related("author")
        ]
        if not rows:
            return "-"
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{} <b>{}</b>: {}</li>", rows))

    @admin.display(description="workflow history")
    def workflow(self, approval: ApprovalRequest) -> str:
        rows = [
            (
                event.at.strftime("%Y-%m-%d %H:%M:%S"),
                event.by or "-",
                event.event,
                f" (stage {event.stage_index})" if event.stage_index is not None else "",
                f": {event.comment}" if event.comment else "",
            )
            for event in workflow_history(approval)
        ]
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{} <b>{}</b> {}{}{}</li>", rows))


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "approve"), ("reject", "reject"), ("comment", "comment")])
    stage_index = forms.IntegerField(min_value=0, required=False)
    comment = forms.CharField(required=False, max_length=services.MAX_COMMENT_LENGTH)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("decision") in ("approve", "reject") and data.get("stage_index") is None:
            raise ValidationError("Which stage? (stage_index)")
        return data


class PolicyStageInlineFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        kept = [form for form in self.forms if form.cleaned_data and not form.cleaned_data.get("DELETE")]
        if self.instance.environment == Environment.DEVELOPMENT and kept:
            raise ValidationError("Development needs no approval: every new version is active there at once.")
        if self.instance.environment != Environment.DEVELOPMENT and not kept:
            raise ValidationError(f"Nothing reaches {self.instance.environment} without review: keep a stage.")
        positions = [form.cleaned_data["position"] for form in kept]
        if len(positions) != len(set(positions)):
            raise ValidationError("Each stage needs its own position.")

    def save(self, commit: bool = True) -> Any:
        # Positions are unique: swapping two stages would collide half-way, so every changed stage first
        # moves out of the way, then takes its new place.
        stages = super().save(commit=False)
        for obj in self.deleted_objects:
            obj.delete()
        for offset, stage in enumerate(stages):
            if stage.pk is not None:
                PolicyStage.objects.filter(pk=stage.pk).update(position=10_000 + offset)
        for stage in stages:
            stage.save()
        return stages


class PolicyStageInline(admin.TabularInline):
    model = PolicyStage
    formset = PolicyStageInlineFormSet
    fields = ["position", "role"]
    extra = 1
    ordering = ["position"]


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(AuditedAdmin):
    """Editable by superusers only (no role holds change permissions). A change applies to requests
    submitted afterwards: each request copied its stages when it was submitted."""

    list_display = ["environment", "stages_in_order", "description"]
    inlines = [PolicyStageInline]
    readonly_fields = ["environment"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("stages__role")

    @admin.display(description="stages")
    def stages_in_order(self, policy: ApprovalPolicy) -> str:
        return " → ".join(stage.role.name for stage in policy.stages.all()) or "none"

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        sync_role_permissions()  # a group new to a stage gets the reviewers' admin permissions

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # one policy per environment, created by a migration

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
