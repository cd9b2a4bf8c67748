"""Rollback triggers in the admin: deployers and superusers add, edit and delete rules through the same
services and validation as the API (lifecycle.releases.rules.services); their evaluations and the alerts
they fired are read-only records."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from lifecycle.core.admin import AuditedAdmin, ReadOnlyAdmin, json_shown, username_of
from lifecycle.core.exceptions import DomainError
from lifecycle.core.roles import acting_user
from lifecycle.releases.rules import services
from lifecycle.releases.rules.definitions import describe
from lifecycle.releases.rules.models import Alert, TriggerEvaluation, TriggerRule
from lifecycle.releases.rules.permissions import may_manage_rules
from lifecycle.releases.rules.validation import API_NAMES, problems_of

# The API's names of a rule's fields -> this form's.
_FORM_FIELDS = {api: model for model, api in API_NAMES.items()}
_FORM_FIELDS.update({"templateId": "template", "notify.emails": "emails"})


class TriggerRuleForm(forms.ModelForm):
    emails = forms.CharField(
        label="Notify emails",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="One address a line.",
    )

    class Meta:
        model = TriggerRule
        fields = [
            "template",
            "environment",
            "metric",
            "operator",
            "threshold",
            "baseline",
            "window_minutes",
            "min_executions",
            "consecutive_breaches",
            "cooldown_minutes",
            "action",
            "enabled",
            "dry_run",
            "alpha",
            "require_significance",
            "notify_webhook_url",
        ]
        help_texts = {
            "threshold": "Absolute: in the metric's unit (rates in %, times in ms). Previous version: percent change.",
            "window_minutes": "1 to 1440; daily_cost always reads the last 1440.",
            "alpha": "Previous version only: the one-sided level (empty: 0.01 for rollback, 0.05 for alert).",
            "notify_webhook_url": "An http(s) URL that receives each alert, signed with the rule's secret.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial["emails"] = "\n".join(self.instance.notify_emails)

    def rule_fields(self) -> dict[str, Any]:
        """The form's values as the rules' services take them."""
        data = self.cleaned_data
        fields = {name: data.get(name) for name in API_NAMES if name in self.fields}
        template = data.get("template") if "template" in self.fields else self.instance.template
        fields["template_id"] = template.pk if template is not None else None
        if "environment" not in self.fields:
            fields["environment"] = self.instance.environment
        fields["notify_emails"] = [line.strip() for line in (data.get("emails") or "").splitlines() if line.strip()]
        fields["notify_webhook_url"] = data.get("notify_webhook_url") or ""
        return fields

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        # The services' own validation, so that a refusal shows on its field with nothing saved.
        for path, problems in problems_of(self.rule_fields()).items():
            field = _FORM_FIELDS.get(path)
            for problem in problems:
                self.add_error(field if field in self.fields else None, problem)
        return data


def _manages_rules(request: HttpRequest) -> bool:
    """Whether the admin's user manages rules; False before signing in (the login page asks every admin
    class whether to list its model)."""
    return request.user.is_authenticated and may_manage_rules(acting_user(request))


_ABOUT = ["description", "standing", "created_by_name", "created_at", "updated_at", "id"]


@admin.register(TriggerRule)
class TriggerRuleAdmin(AuditedAdmin):
    """Rules, for deployers and superusers (the API's rule: they decide what rolls back by itself)."""

    form = TriggerRuleForm
    list_display = ["rule", "template", "environment", "action", "enabled", "dry_run", "streak"]
    list_filter = ["environment", "enabled", "action", "metric", "dry_run"]
    list_select_related = ["template", "state"]
    search_fields = ["template__name"]
    ordering = ["template__name", "environment", "-created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A rule's template and environment are fixed once it exists (the services refuse to move it).
        return ["template", "environment", *_ABOUT] if obj is not None else _ABOUT

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = [*TriggerRuleForm.Meta.fields[:-1], "emails", "notify_webhook_url"]
        return fields if obj is None else [*fields, *_ABOUT]

    @admin.display(description="rule")
    def rule(self, rule: TriggerRule) -> str:
        return rule.description

    @admin.display(description="the rule in one line")
    def description(self, rule: TriggerRule) -> str:
        return rule.description

    @admin.display(description="streak")
    def streak(self, rule: TriggerRule) -> int:
        state = getattr(rule, "state", None)
        return state.streak if state is not None else 0

    @admin.display(description="where it stands")
    def standing(self, rule: TriggerRule) -> str:
        state = getattr(rule, "state", None)
        if state is None or state.last_tick is None:
            return "not evaluated yet"
        cooling = f", in cooldown until {state.cooldown_until:%Y-%m-%d %H:%M}" if state.cooldown_until else ""
        return format_html(
            "{} breaching evaluation(s) in a row{}; last evaluated {}",
            state.streak,
            cooling,
            f"{state.last_tick:%Y-%m-%d %H:%M:%S}",
        )

    @admin.display(description="created by")
    def created_by_name(self, rule: TriggerRule) -> str:
        return username_of(rule.created_by)

    def save_model(self, request: HttpRequest, obj: TriggerRule, form: Any, change: bool) -> None:
        actor, fields = acting_user(request), form.rule_fields()
        try:
            if change:
                for name in services.FIXED:
                    del fields[name]
                services.update_rule(actor=actor, rule_id=obj.pk, changes=fields)
                return
            rule = services.create_rule(actor=actor, **fields)
        except DomainError as exc:  # a race the form could not see (the template deleted meanwhile)
            messages.error(request, exc.message)
            raise
        # The admin names and links the object it thinks it saved: make it the rule the service made.
        obj.pk, obj.created_by, obj.webhook_secret = rule.pk, rule.created_by, rule.webhook_secret
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: TriggerRule) -> None:
        services.delete_rule(actor=acting_user(request), rule_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for rule_id in queryset.values_list("pk", flat=True):
            services.delete_rule(actor=acting_user(request), rule_id=rule_id)

    # Deployers and superusers, whatever Django permissions their groups hold.
    def has_module_permission(self, request: HttpRequest) -> bool:
        return _manages_rules(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _manages_rules(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _manages_rules(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _manages_rules(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _manages_rules(request)


class _ForRuleManagers(ReadOnlyAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return _manages_rules(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _manages_rules(request)


@admin.register(TriggerEvaluation)
class TriggerEvaluationAdmin(_ForRuleManagers):
    """Every evaluation that was not a plain "ok": append-only evidence, the rule as it was then."""

    list_display = ["tick", "rule_then", "version", "status", "streak", "decision", "observed", "executions"]
    list_filter = ["status", "decision"]
    list_select_related = ["rule_history", "deployment__version", "deployment__template"]
    date_hierarchy = "tick"
    fields = readonly_fields = (
        "rule_then",
        "rule_id",
        "version",
        "tick",
        "window_start",
        "window_end",
        "evaluated_at",
        "executions",
        "sample_size",
        "observed",
        "baseline_size",
        "baseline_value",
        "estimate",
        "bound",
        "p_value",
        "alpha",
        "status",
        "streak",
        "decision",
        "detail",
        "task_id",
    )

    @admin.display(description="rule (as it was)")
    def rule_then(self, evaluation: TriggerEvaluation) -> str:
        return describe(evaluation.rule_history)

    @admin.display(description="deployment")
    def version(self, evaluation: TriggerEvaluation) -> str:
        deployment = evaluation.deployment
        return f"{deployment.template.name} {deployment.version.number} in {deployment.environment}"


@admin.register(Alert)
class AlertAdmin(_ForRuleManagers):
    """Alerts rules fired, newest first: what they saw and what was done."""

    list_display = ["fired_at", "summary", "template", "environment", "action", "outcome"]
    list_filter = ["environment", "action", "outcome"]
    list_select_related = ["template"]
    search_fields = ["template__name", "summary"]
    fields = readonly_fields = (
        "fired_at",
        "rule_label",
        "rule_id",
        "template",
        "environment",
        "deployment",
        "metric",
        "action",
        "outcome",
        "outcome_detail",
        "summary",
        "rollback_link",
        "evidence_shown",
    )

    @admin.display(description="rollback")
    def rollback_link(self, alert: Alert) -> str:
        if alert.rollback_id is None:
            return "-"
        url = reverse("admin:releases_rollback_change", args=[alert.rollback_id])
        return format_html('<a href="{}">{}</a>', url, alert.rollback)

    @admin.display(description="evidence")
    def evidence_shown(self, alert: Alert) -> str:
        return json_shown(alert.evidence)
