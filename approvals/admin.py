"""The reviewers' and authors' admin: the reviewer's queue, each request's page (the next step named, the
decision for whoever may take it, withdraw and resubmit for the template's authors), and the policies.

Every action calls approvals.services, exactly as the API does: every rule (order, role, author, one
decider per stage, who may submit and withdraw) holds here too, and a refusal is shown as a message on the
request's page, in words for people (stages numbered from 1; no API field names).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

from approvals import services
from approvals.exceptions import ApprovalRequestNotFound, StageOutOfOrder, WrongRole
from approvals.models import ApprovalPolicy, ApprovalRequest, ApprovalStage, PolicyStage, ReviewQueue
from approvals.selectors import next_step_of, requests_concerning, requests_waiting_for, workflow_history
from lifecycle.core.admin import AuditedAdmin, QueueAdmin, ReadOnlyAdmin
from lifecycle.core.environments import Environment
from lifecycle.core.exceptions import DomainError, InvalidInput
from lifecycle.core.roles import Role, acting_user, has_role, sync_role_permissions
from templates_app.diff import diff_versions
from templates_app.diff_display import diff_html, variables_table
from templates_app.models import TemplateVersion
from templates_app.permissions import may_change

PAST_TENSE = {"approve": "approved", "reject": "rejected"}


def when(moment: datetime | None) -> str:
    """A moment as people read it in lists and messages: local time, to the minute."""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "—"


def stage_name(stage: ApprovalStage) -> str:
    """A stage as people read it: numbered from 1 (the API's stageIndex counts from 0), with its role."""
    return f"stage {stage.index + 1} ({stage.role.name})"


def request_page(approval_id: Any) -> str:
    return reverse("admin:approvals_approvalrequest_change", args=[approval_id])


def _request_link(request: ApprovalRequest, text: str, link_id: str) -> str:
    return format_html('<a href="{}" id="{}">{}</a>', request_page(request.pk), link_id, text)


def listed_perms(request: HttpRequest, perms: dict[str, bool], *, acts_on_it: bool) -> dict[str, bool]:
    """A model's admin permissions as the index and the side bar see them (get_model_perms): there, each role
    finds what it acts on, so the model is left out unless `acts_on_it`. The app's own page, where the
    breadcrumbs of its pages lead, lists everything the user may read (else that page would be a 404)."""
    match = request.resolver_match
    return perms if acts_on_it or (match is not None and match.url_name == "app_list") else {}


def human_message(error: DomainError, approval: ApprovalRequest, *, stage_index: int | None, action: str) -> str:
    """A service's refusal as people in the admin read it. The services word their messages for the API
    (0-based `stageIndex`, field paths such as `data.comment`); the rule and its decision stay theirs."""
    stages = {stage.index: stage for stage in approval.stages.select_related("role")}
    stage = stages.get(stage_index) if stage_index is not None else None
    if isinstance(error, InvalidInput):
        problem = next((msgs[0] for field, msgs in error.fields.items() if field.endswith("comment")), None)
        if problem is not None and problem.startswith("is required"):
            return "Write a comment first." if action == "comment" else f"A comment is required to {action}."
        if problem is not None:
            return f"The comment {problem}."
        if stage is None and any(field.endswith("stageIndex") for field in error.fields):
            return f"This request has stages 1 to {len(stages)}."
        return error.message.removeprefix("Invalid input: ")
    if isinstance(error, WrongRole) and stage is not None:
        return f"Stage {stage.index + 1} is decided by the '{stage.role.name}' role, which you do not hold."
    if isinstance(error, StageOutOfOrder) and stage is not None:
        current = next((s for s in stages.values() if s.state == ApprovalStage.State.WAITING), None)
        if stage.state != ApprovalStage.State.WAITING or current is None:
            return f"{stage_name(stage).capitalize()} is already {stage.state}."
        return f"{stage_name(current).capitalize()} is decided before {stage_name(stage)}."
    return error.message


def confirmation_page(
    request: HttpRequest,
    admin_site: admin.AdminSite,
    *,
    title: str,
    back_url: str,
    back_title: str,
    action_url: str,
    hidden: list[tuple[str, Any]],
    facts: list[tuple[str, str]],
    consequence: str,
    button: str,
    comment: str | None = None,
    comment_label: str = "",
    danger: bool = True,
) -> HttpResponse:
    """A page asking to confirm an action that cannot be taken back: its button (id "confirm") posts `hidden`
    and `confirm=yes` to `action_url`; "No, go back" (id "cancel") leads to `back_url`. With `comment` (even
    empty) it has a comment box, prefilled with it."""
    context = {
        **admin_site.each_context(request),
        "title": title,
        "back_url": back_url,
        "back_title": back_title,
        "action_url": action_url,
        "hidden": hidden,
        "facts": facts,
        "consequence": consequence,
        "comment": comment,
        "comment_label": comment_label,
        "button": button,
        "danger": danger,
    }
    return TemplateResponse(request, "admin/approvals/confirm.html", context)


@admin.register(ReviewQueue)
class ReviewQueueAdmin(QueueAdmin):
    """What waits for the signed-in reviewer, oldest first."""

    list_display = ["template_and_version", "environment", "stage", "waiting", "submitted_by"]
    list_display_links = None

    def get_queryset(self, request: HttpRequest) -> Any:
        return requests_waiting_for(acting_user(request))

    @admin.display(description="template and version")
    def template_and_version(self, item: Any) -> str:
        return _request_link(item, f"{item.version.template.name} {item.version.number}", f"review-{item.pk}")

    @admin.display(description="stage")
    def stage(self, item: Any) -> str:
        return f"stage {item.current_index + 1} ({item.current_role})"

    @admin.display(description="waiting for")
    def waiting(self, item: Any) -> str:
        return timesince(item.waiting_since, timezone.now())


class StageInline(admin.TabularInline):
    """The request's stages: users and groups as names (their admin pages are for superusers only)."""

    model = ApprovalStage
    fields = readonly_fields = ("stage", "role_name", "status", "decided_by_name", "comment", "decided")
    extra = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> Any:
        first_waiting = ApprovalStage.objects.filter(
            request=OuterRef("request"), state=ApprovalStage.State.WAITING
        ).order_by("index")
        return (
            super()
            .get_queryset(request)
            .select_related("request", "role", "decided_by")
            .annotate(first_waiting=Subquery(first_waiting.values("index")[:1]))
        )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="stage")
    def stage(self, stage: ApprovalStage) -> int:
        return stage.index + 1

    @admin.display(description="role")
    def role_name(self, stage: ApprovalStage) -> str:
        return stage.role.name

    @admin.display(description="state")
    def status(self, stage: ApprovalStage) -> str:
        if stage.state != ApprovalStage.State.WAITING:
            return stage.state
        if stage.request.state != ApprovalRequest.State.PENDING:
            return "not reached"  # the request was rejected or withdrawn before this stage's turn
        return "waiting for a decision" if stage.index == stage.first_waiting else "not reached yet"  # type: ignore[attr-defined]

    @admin.display(description="decided by")
    def decided_by_name(self, stage: ApprovalStage) -> str:
        return stage.decided_by.get_username() if stage.decided_by else "—"

    @admin.display(description="decided at")
    def decided(self, stage: ApprovalStage) -> str:
        return when(stage.decided_at)


class _ConcerningChangeList(ChangeList):
    """The list of requests shows those the user has a part in (approvals.selectors.requests_concerning);
    the pages of the others stay readable, as over the API."""

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> Any:
        if not getattr(self, "_scoped", False):
            self.root_queryset = self.root_queryset.filter(
                pk__in=requests_concerning(acting_user(request)).values("pk")
            )
            self._scoped = True
        return super().get_queryset(request, exclude_parameters)


class ApprovalRequestAdmin(ReadOnlyAdmin, AuditedAdmin):
    """A request's page: what it asks, the next step and who takes it, its stages and story, and the actions
    for whoever may take them. Registered by lifecycle.releases.admin, whose subclass says which version the
    environment serves now (`version_active_in`) for the diff, and adds what was deployed."""

    change_form_template = "admin/approvals/approvalrequest/change_form.html"
    list_display = ["__str__", "environment", "state", "submitted_by", "submitted"]
    list_filter = ["environment", "state"]
    search_fields = ["version__template__name"]
    list_select_related = ["version__template", "submitted_by"]
    inlines = [StageInline]
    fields = readonly_fields = (
        "template",
        "version_number",
        "environment",
        "state",
        "submitted_by_name",
        "submitted_at",
        "content",
        "variables",
        "diff_against_active",
        "comments",
        "workflow",
    )

    def get_model_perms(self, request: HttpRequest) -> dict[str, bool]:
        # On the index for those with requests to act on: reviewers (who have a queue), authors, superusers.
        # Deployers reach a request's page from their "Ready to deploy" queue.
        user = acting_user(request)
        acts = user.is_superuser or user.has_perm("approvals.view_reviewqueue") or has_role(user, Role.AUTHOR)
        return listed_perms(request, super().get_model_perms(request), acts_on_it=acts)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return _ConcerningChangeList

    @admin.display(description="submitted", ordering="submitted_at")
    def submitted(self, approval: ApprovalRequest) -> str:
        return when(approval.submitted_at)

    def get_urls(self) -> list[Any]:
        views = [
            path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(view),
                name=f"approvals_approvalrequest_{name}",
            )
            for name, view in (
                ("decide", self.decide_view),
                ("withdraw", self.withdraw_view),
                ("resubmit", self.resubmit_view),
            )
        ]
        return [*views, *super().get_urls()]

    def _posted_request(self, request: HttpRequest, object_id: str) -> ApprovalRequest:
        """The request an action's POST is about, by its id: never another request of the same version."""
        if request.method != "POST" or not self.has_view_permission(request):
            raise DjangoPermissionDenied
        try:
            request_id = uuid.UUID(object_id)
        except ValueError:
            raise Http404 from None
        approval = ApprovalRequest.objects.select_related("version__template").filter(pk=request_id).first()
        if approval is None:
            raise Http404
        return approval

    def decide_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Approve, reject (after a confirmation) or comment, through the same services as the API."""
        approval = self._posted_request(request, object_id)
        page = request_page(approval.pk)
        form = DecisionForm(request.POST)
        if not form.is_valid():
            messages.error(request, "; ".join(str(error) for errors in form.errors.values() for error in errors))
            return HttpResponseRedirect(page)
        decision, comment = form.cleaned_data["decision"], form.cleaned_data["comment"]
        stage_index = form.cleaned_data["stage_index"]
        actor = acting_user(request)
        if decision == "reject" and not form.cleaned_data["confirm"]:
            refusal = services.refusal_to_decide(actor=actor, request=approval, stage_index=stage_index)
            if refusal is not None:
                messages.error(request, human_message(refusal, approval, stage_index=stage_index, action=decision))
                return HttpResponseRedirect(page)
            return self._confirm_reject(request, approval, stage_index, comment)
        try:
            if decision == "comment":
                services.add_comment(actor=actor, request_id=approval.pk, body=comment)
                messages.success(request, "Comment added.")
            else:
                decide = services.approve_stage if decision == "approve" else services.reject_stage
                decided = decide(actor=actor, request_id=approval.pk, stage_index=stage_index, comment=comment)
                stage = decided.stages.select_related("role").get(index=stage_index)
                messages.success(
                    request,
                    f"{stage_name(stage).capitalize()} {PAST_TENSE[decision]}; the request is {decided.state}.",
                )
        except ApprovalRequestNotFound:
            raise Http404 from None
        except DomainError as exc:
            message = human_message(exc, approval, stage_index=stage_index, action=decision)
            messages.error(request, message)
            if decision == "reject" and isinstance(exc, InvalidInput):  # e.g. no comment: ask again, as it was
                return self._confirm_reject(request, approval, stage_index, comment)
        return HttpResponseRedirect(page)

    def _confirm_reject(
        self, request: HttpRequest, approval: ApprovalRequest, stage_index: int, comment: str
    ) -> HttpResponse:
        stage = approval.stages.select_related("role").get(index=stage_index)
        version = approval.version
        return self.confirmation(
            request,
            approval,
            title=f"Reject {version} for {approval.environment}?",
            action_url=reverse("admin:approvals_approvalrequest_decide", args=[approval.pk]),
            hidden=[("decision", "reject"), ("stage_index", stage_index)],
            facts=[
                ("Stage", stage_name(stage)),
                ("Request", f"{version} for {approval.environment}, submitted by {approval.submitted_by}"),
            ],
            consequence=(
                "Rejecting this stage rejects the whole request: the stages after it are not reached. "
                "The author reads your comment and may submit the version again, which starts from stage 1."
            ),
            comment=comment,
            comment_label="Why do you reject it? (required; the author reads it)",
            button=f"Reject {stage_name(stage)}",
        )

    def withdraw_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Withdraw a pending request (after a confirmation), through approvals.services.cancel_request."""
        approval = self._posted_request(request, object_id)
        page = request_page(approval.pk)
        if request.POST.get("confirm") != "yes":
            version = approval.version
            decided = approval.stages.exclude(state=ApprovalStage.State.WAITING).count()
            return self.confirmation(
                request,
                approval,
                title=f"Withdraw the request for {version} in {approval.environment}?",
                action_url=reverse("admin:approvals_approvalrequest_withdraw", args=[approval.pk]),
                hidden=[],
                facts=[("Stages decided so far", f"{decided} of {approval.stages.count()}")],
                consequence=(
                    "The request ends here, and the reviews given so far end with it: a later submission of this "
                    "version starts again from stage 1."
                ),
                button="Withdraw the request",
            )
        try:
            services.cancel_request(actor=acting_user(request), request_id=approval.pk)
            messages.success(request, "Request withdrawn: it has ended.")
        except ApprovalRequestNotFound:
            raise Http404 from None
        except DomainError as exc:
            messages.error(request, human_message(exc, approval, stage_index=None, action="withdraw"))
        return HttpResponseRedirect(page)

    def resubmit_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Submit the request's version again for its environment, through approvals.services.submit_for_approval:
        a new request, starting from stage 1; its page is shown."""
        approval = self._posted_request(request, object_id)
        try:
            new = services.submit_for_approval(
                actor=acting_user(request), version_id=approval.version_id, environment=approval.environment
            )
        except DomainError as exc:
            messages.error(request, human_message(exc, approval, stage_index=None, action="resubmit"))
            return HttpResponseRedirect(request_page(approval.pk))
        messages.success(
            request, f"{approval.version} submitted again for {approval.environment}: a new request, from stage 1."
        )
        return HttpResponseRedirect(request_page(new.pk))

    def confirmation(self, request: HttpRequest, approval: ApprovalRequest, **page: Any) -> HttpResponse:
        return confirmation_page(
            request, self.admin_site, back_url=request_page(approval.pk), back_title=str(approval), **page
        )

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        approval = context.get("original")
        if approval is not None:
            actor = acting_user(request)
            step = next_step_of(approval)
            context["next_step"] = step
            context["stage_number"] = step.stage.index + 1 if step.stage else None
            current = step.stage if approval.state == ApprovalRequest.State.PENDING else None
            context["current_stage"] = current
            # Each action is offered only to whoever may take it; anyone else is told why not.
            refusal = current and services.refusal_to_decide(actor=actor, request=approval, stage_index=current.index)
            context["refusal"] = (
                human_message(refusal, approval, stage_index=current.index, action="decide")
                if current and refusal
                else None
            )
            context["you_decide"] = current is not None and refusal is None
            context["decide_url"] = reverse("admin:approvals_approvalrequest_decide", args=[approval.pk])
            author = may_change(actor, approval.version.template)
            if author and approval.state == ApprovalRequest.State.PENDING:
                context["withdraw_url"] = reverse("admin:approvals_approvalrequest_withdraw", args=[approval.pk])
            if author and approval.state == ApprovalRequest.State.REJECTED and step.later_request is None:
                context["resubmit_url"] = reverse("admin:approvals_approvalrequest_resubmit", args=[approval.pk])
            if step.later_request is not None:
                context["later_url"] = request_page(step.later_request.pk)
            context["subtitle"] = str(approval)
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

    @admin.display(description="submitted by")
    def submitted_by_name(self, approval: ApprovalRequest) -> str:
        return approval.submitted_by.get_username()

    @admin.display(description="content")
    def content(self, approval: ApprovalRequest) -> str:
        version = approval.version
        text = (
            version.content if version.messages is None else json.dumps(version.messages, indent=2, ensure_ascii=False)
        )
        return format_html("<pre>{}</pre>", text)

    @admin.display(description="variables")
    def variables(self, approval: ApprovalRequest) -> str:
        return variables_table(approval.version.variables)

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
            (when(c.created_at), c.author.get_username(), c.body) for c in approval.comments.select_related("author")
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
                f" (stage {event.stage_index + 1})" if event.stage_index is not None else "",
                f": {event.comment}" if event.comment else "",
            )
            for event in workflow_history(approval)
        ]
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{} <b>{}</b> {}{}{}</li>", rows))


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "approve"), ("reject", "reject"), ("comment", "comment")])
    stage_index = forms.IntegerField(min_value=0, required=False)
    comment = forms.CharField(required=False, max_length=services.MAX_COMMENT_LENGTH)
    confirm = forms.BooleanField(required=False)  # "yes" from the confirmation page of a rejection

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("decision") in ("approve", "reject") and data.get("stage_index") is None:
            raise ValidationError("Which stage? The page was out of date: open the request again.")
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
    readonly_fields = ["role_name"]
    extra = 1
    ordering = ["position"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Read-only, a group would show as a link to the groups' admin, which is for superusers only.
        return ["position", "role" if self.has_change_permission(request, obj) else "role_name"]

    @admin.display(description="role")
    def role_name(self, stage: PolicyStage) -> str:
        return stage.role.name


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(AuditedAdmin):
    """Editable by superusers only (no role holds change permissions). A change applies to requests
    submitted afterwards: each request copied its stages when it was submitted."""

    list_display = ["environment", "stages_in_order", "description"]
    inlines = [PolicyStageInline]
    readonly_fields = ["environment"]

    def get_model_perms(self, request: HttpRequest) -> dict[str, bool]:
        # Readable by every role (to know the stages ahead), but on the index only for those who edit it.
        return listed_perms(request, super().get_model_perms(request), acts_on_it=acting_user(request).is_superuser)

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
