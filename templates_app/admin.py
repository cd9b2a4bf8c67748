"""The admin for templates and versions. Every write goes through the services, as the API's do.

Forms check input with the services' own planning functions (plan_new_template, plan_next_version), so
problems appear on the form with the input kept; a conflict only the write can see (a name taken a moment
before) is shown as an error message.

A new template or version is active in development at once, which this app cannot know: the classes here
are registered by lifecycle.releases.admin, whose subclasses create through the services that compose
both (`create_template` / `create_version`) and show what is live where.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import Group
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.html import format_html

from lifecycle.core.admin import AuditedAdmin, ReadOnlyAdmin
from lifecycle.core.exceptions import DomainError
from lifecycle.core.forms import StrictJSONFormField
from lifecycle.core.roles import User, acting_user
from templates_app.diff import diff_versions
from templates_app.diff_display import diff_html
from templates_app.models import PromptTemplate, Tag, TemplateVersion
from templates_app.permissions import may_change, templates_changeable_by
from templates_app.selectors import template_name_taken, version_before
from templates_app.semver import Bump
from templates_app.services import plan_new_template, plan_next_version, set_maintainers, update_template


def _pretty(value: Any) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))


def _definition_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "content": data.get("content") or None,
        "messages": data.get("messages"),
        "variables": data.get("variables"),
        "modelConfig": data.get("model_config"),
        "provider": data.get("provider") or None,
    }


def _show_domain_error(form: forms.BaseForm, exc: DomainError) -> None:
    """Put a service's error on the form: on the field it names if the form has it, else on top."""
    names = {"modelConfig": "model_config"}
    if not exc.fields:
        form.add_error(None, exc.message)
        return
    for path, problems in exc.fields.items():
        head = path.split(".")[0].split("[")[0]
        field = names.get(head, head)
        for problem in problems:
            if field in form.fields and path == head:
                form.add_error(field, problem)
            else:
                form.add_error(field if field in form.fields else None, f"{path}: {problem}")


def _nothing_saved(formsets: Any) -> None:
    """What the admin's change message reads from formsets it would otherwise have saved."""
    for formset in formsets:
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []


class _DefinitionFields(forms.Form):
    content = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8, "cols": 100}),
        required=False,
        help_text="Text with {{placeholders}}; or leave empty and give chat messages.",
    )
    messages = StrictJSONFormField(required=False, help_text='Chat prompt: [{"role": "system", "content": "..."}]')
    variables = StrictJSONFormField(
        required=False, help_text='[{"name": "inquiry", "type": "string", "required": true}]'
    )
    model_config = StrictJSONFormField(
        required=False, label="Model config", help_text='{"model": "...", "temperature": 0.2}'
    )
    provider = forms.CharField(required=False, max_length=50)


class TemplateForm(forms.ModelForm):
    """The template's own fields; tags as text, so that new tags are made by the service, with the audit."""

    tags = forms.CharField(required=False, help_text="Comma-separated, e.g. support, billing")
    metadata = StrictJSONFormField(required=False, help_text='e.g. {"author": "support-team", "complexity": "low"}')

    class Meta:
        model = PromptTemplate
        fields = ["name", "description", "category", "metadata"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["tags"] = ", ".join(tag.name for tag in self.instance.tags.all())

    def tag_names(self) -> list[str]:
        return [tag.strip() for tag in (self.cleaned_data.get("tags") or "").split(",") if tag.strip()]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors and template_name_taken(data["name"], other_than=self.instance.pk):
            self.add_error("name", "A template with this name already exists (names ignore case).")
        return data


class TemplateChangeForm(TemplateForm):
    """An existing template's fields, and who maintains it (saved by set_maintainers, with the audit)."""

    maintainers = forms.ModelMultipleChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"),
        required=False,
        help_text="Authors among them may edit the template and create, submit and deploy its versions.",
    )
    maintainer_groups = forms.ModelMultipleChoiceField(
        queryset=Group.objects.order_by("name"), required=False, help_text="Every member of these groups maintains it."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial["maintainers"] = list(self.instance.maintainers.all())
        self.initial["maintainer_groups"] = list(self.instance.maintainer_groups.all())

    def maintainers_changed(self) -> bool:
        return "maintainers" in self.changed_data or "maintainer_groups" in self.changed_data


class TemplateAddForm(TemplateForm):
    content = _DefinitionFields.base_fields["content"]
    messages = _DefinitionFields.base_fields["messages"]
    variables = _DefinitionFields.base_fields["variables"]
    model_config = _DefinitionFields.base_fields["model_config"]
    provider = _DefinitionFields.base_fields["provider"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        try:
            plan_new_template(
                name=data["name"],
                definition=_definition_fields(data),
                category=data["category"],
                tags=self.tag_names(),
                metadata=data.get("metadata") or {},
            )
        except DomainError as exc:
            _show_domain_error(self, exc)
        return data


class VersionInline(admin.TabularInline):
    model = TemplateVersion
    fields = ["number_link", "provider", "created_by", "created_at"]
    readonly_fields = ["number_link", "provider", "created_by", "created_at"]
    extra = 0
    can_delete = False
    show_change_link = False

    @admin.display(description="version")
    def number_link(self, version: TemplateVersion) -> str:
        return format_html('<a href="../../templateversion/{}/change/">{}</a>', version.pk, version.number)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DomainErrorsAsMessages:
    """A service's refusal the form could not foresee (a name taken a moment ago, a missing role) is
    shown as a message above the form, with nothing saved."""

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
        except DomainError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(request.get_full_path())


class PromptTemplateAdmin(DomainErrorsAsMessages, AuditedAdmin):
    """Templates: add one with its first version, edit its descriptive fields. Registered by
    lifecycle.releases.admin, whose subclass implements `create_template`."""

    list_display = ["name", "category", "latest_version_number", "provider", "updated_at"]
    list_filter = ["category", "tags"]
    search_fields = ["name", "description"]
    readonly_fields = ["id", "latest_version_number", "created_by", "created_at", "updated_at"]
    inlines = [VersionInline]

    def create_template(self, request: HttpRequest, **fields: Any) -> PromptTemplate:
        """Create the template and its first version (the arguments of templates_app.services.create_template)."""
        raise NotImplementedError

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("latest_version")

    @admin.display(description="latest version")
    def latest_version_number(self, template: PromptTemplate) -> str:
        return template.latest_version.number if template.latest_version else "-"

    @admin.display(description="provider")
    def provider(self, template: PromptTemplate) -> str:
        return template.latest_version.provider if template.latest_version else "-"

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        kwargs["form"] = TemplateAddForm if obj is None else TemplateChangeForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return [
                (None, {"fields": ["name", "description", "category", "tags", "metadata"]}),
                ("First version", {"fields": ["content", "messages", "variables", "model_config", "provider"]}),
            ]
        shown = [field for field in self.readonly_fields if field != "id"]
        editable = ["name", "description", "category", "tags", "metadata", "maintainers", "maintainer_groups"]
        return [(None, {"fields": ["id", *editable, *shown]})]

    def save_model(self, request: HttpRequest, obj: PromptTemplate, form: Any, change: bool) -> None:
        data = form.cleaned_data
        tags = form.tag_names()
        if change:
            saved = update_template(
                actor=acting_user(request),
                template_id=obj.pk,
                name=data["name"],
                description=data["description"],
                category=data["category"],
                tags=tags,
                metadata=data.get("metadata") or {},
            )
            if form.maintainers_changed():
                set_maintainers(
                    actor=acting_user(request),
                    template_id=obj.pk,
                    usernames=[user.username for user in data["maintainers"]],
                    group_names=[group.name for group in data["maintainer_groups"]],
                )
        else:
            saved = self.create_template(
                request,
                name=data["name"],
                description=data["description"],
                category=data["category"],
                tags=tags,
                metadata=data.get("metadata") or {},
                definition=_definition_fields(data),
            )
        obj.pk = saved.pk

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The service saved the tags (with the audit record); the version inline is read-only.
        _nothing_saved(formsets)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The role's model permission, then the template's own rule: authors change the templates they
        # maintain and read the others.
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or may_change(acting_user(request), obj))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # templates are part of the audit trail


class VersionAddForm(forms.ModelForm):
    content = _DefinitionFields.base_fields["content"]
    messages = _DefinitionFields.base_fields["messages"]
    variables = StrictJSONFormField(required=False, help_text="Leave empty to keep the latest version's variables.")
    model_config = StrictJSONFormField(
        required=False, label="Model config", help_text="Leave empty to keep the latest."
    )
    provider = forms.CharField(required=False, max_length=50, help_text="Leave empty to keep the latest.")
    changelog = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 100}))
    bump = forms.ChoiceField(
        choices=[("", "as computed")] + [(b.label, b.label) for b in Bump],
        required=False,
        help_text="Ask for a bigger step than the change needs (never a smaller one).",
    )

    class Meta:
        model = TemplateVersion
        fields = ["template"]

    def planned_input(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "definition": _definition_fields(data),
            "metadata": {"changelog": data["changelog"]} if data.get("changelog") else {},
            "bump": Bump.from_label(data["bump"]) if data.get("bump") else None,
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors or data.get("template") is None:
            return data
        try:
            plan_next_version(data["template"].latest_version, **self.planned_input())
        except DomainError as exc:
            _show_domain_error(self, exc)
        return data

    def _post_clean(self) -> None:
        pass  # the model instance is built by the service, not from this form


class TemplateVersionAdmin(DomainErrorsAsMessages, AuditedAdmin):
    """Versions: read-only once made, with their diff; add the next version of a template. Registered by
    lifecycle.releases.admin, whose subclass implements `create_version`."""

    list_display = ["template", "number", "provider", "created_by", "created_at"]
    list_filter = ["template__category", "created_at"]
    search_fields = ["template__name", "content", "metadata__changelog"]
    list_select_related = ["template", "created_by"]
    readonly_fields = [
        "id",
        "template",
        "number",
        "content",
        "messages_pretty",
        "variables_pretty",
        "model_config_pretty",
        "provider",
        "metadata_pretty",
        "changes_pretty",
        "diff_against_previous",
        "fingerprint",
        "created_by",
        "created_at",
    ]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["template", "content", "messages", "variables", "model_config", "provider", "changelog", "bump"]
        return self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else []

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "template":  # versions are added to the templates the user may change
            kwargs["queryset"] = templates_changeable_by(acting_user(request)).order_by("name")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = VersionAddForm
            kwargs["fields"] = None
        return super().get_form(request, obj, change=change, **kwargs)

    def create_version(self, request: HttpRequest, **fields: Any) -> TemplateVersion:
        """Create the next version (the arguments of templates_app.services.create_version)."""
        raise NotImplementedError

    def save_model(self, request: HttpRequest, obj: TemplateVersion, form: Any, change: bool) -> None:
        version = self.create_version(request, template_id=form.cleaned_data["template"].pk, **form.planned_input())
        # The admin names and links the object it thinks it saved: make it the version the service made.
        obj.pk, obj.template = version.pk, version.template
        obj.major, obj.minor, obj.patch = version.major, version.minor, version.patch
        obj._state.adding = False

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        _nothing_saved(formsets)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # versions are immutable: viewing only

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="messages")
    def messages_pretty(self, version: TemplateVersion) -> str:
        return _pretty(version.messages) if version.messages is not None else "-"

    @admin.display(description="variables")
    def variables_pretty(self, version: TemplateVersion) -> str:
        return _pretty(version.variables)

    @admin.display(description="model config")
    def model_config_pretty(self, version: TemplateVersion) -> str:
        return _pretty(version.model_config)

    @admin.display(description="metadata")
    def metadata_pretty(self, version: TemplateVersion) -> str:
        return _pretty(version.metadata)

    @admin.display(description="changes from the version before")
    def changes_pretty(self, version: TemplateVersion) -> str:
        return _pretty(version.change_summary)

    @admin.display(description="diff against the version before")
    def diff_against_previous(self, version: TemplateVersion) -> str:
        before = version_before(version)
        heading = f"against {before.number}, the version before" if before else "the first version: all of it is new"
        return diff_html(diff_versions(before, version), heading)


@admin.register(Tag)
class TagAdmin(ReadOnlyAdmin):
    """To look tags up. They are made and changed with templates (by the services, with the audit)."""

    search_fields = ["name"]
