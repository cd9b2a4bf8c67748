"""The admin for templates and versions. Every write goes through the services, as the API's do.

Forms check input with the services' own planning functions (plan_new_template, plan_next_version), so
problems appear on the form with the input kept; a conflict only the write can see (a name taken a moment
before) is shown as an error message.

A new template or version is active in development at once, which this app cannot know: the classes here
are registered by lifecycle.releases.admin, whose subclasses create through the services that compose
both (`create_template` / `create_version`) and show what is live where.

What each role finds here: authors see the templates they may change (and those templates' versions) by
default, with every other template one filter choice away: everyone signed in may read every template
(the API lists them all), and authors borrow from each other's prompts, so nothing is hidden, only
filtered. Add buttons appear only for what the user can add.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timezone import localtime

from lifecycle.core.admin import AuditedAdmin, ReadOnlyAdmin, username_of
from lifecycle.core.environments import Environment
from lifecycle.core.exceptions import DomainError
from lifecycle.core.forms import StrictJSONFormField
from lifecycle.core.roles import Role, User, acting_user, has_role
from templates_app.composition import PartLookup, source_fields
from templates_app.diff import diff_versions
from templates_app.diff_display import NOTHING, diff_html, shown, variables_table
from templates_app.models import PromptTemplate, Tag, TemplateVersion
from templates_app.permissions import may_change, templates_changeable_by
from templates_app.selectors import includes_of, template_name_taken, version_before, versions_of
from templates_app.semver import Bump
from templates_app.services import plan_new_template, plan_next_version, set_maintainers, update_template


def _table(headers: list[str], rows: list[tuple[Any, ...]], *, css: str = "") -> SafeString:
    """A small read-only table (rows of already-escaped or plain cells)."""
    head = format_html_join("", "<th scope='col'>{}</th>", ((header,) for header in headers))
    body = format_html_join(
        "", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows)
    )
    return format_html('<table class="{}"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', css, head, body)


def _key_values(mapping: dict[str, Any], *, empty: str) -> SafeString | str:
    if not mapping:
        return empty
    return _table(
        ["key", "value"], [(format_html("<code>{}</code>", key), shown(value)) for key, value in mapping.items()]
    )


def _next_version_url(template: PromptTemplate) -> str:
    return f"{reverse('admin:templates_app_templateversion_add')}?template={template.pk}"


def _may_change_any(user: User) -> bool:
    return templates_changeable_by(user).exists()


class PrettyJSONFormField(StrictJSONFormField):
    """JSON shown indented for people to edit; nothing (not `null`) when there is no value."""

    def __init__(self, *, rows: int = 6, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": rows, "cols": 100, "class": "vLargeTextField"}))
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, InvalidJSONInput):  # what the user typed, not JSON: shown again as typed
            return value
        return json.dumps(value, indent=2, ensure_ascii=False, cls=self.encoder)


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
    messages = PrettyJSONFormField(required=False, help_text='Chat prompt: [{"role": "system", "content": "..."}]')
    variables = PrettyJSONFormField(
        required=False, help_text='[{"name": "inquiry", "type": "string", "required": true}]'
    )
    model_config = PrettyJSONFormField(
        required=False, label="Model config", help_text='{"model": "...", "temperature": 0.2}'
    )
    provider = forms.CharField(required=False, max_length=50)
    include_environment = forms.ChoiceField(
        choices=Environment.choices,
        initial=Environment.PRODUCTION,
        required=False,  # left out: production
        label="Parts from",
        help_text="A {{> part}} reference without a version takes the part's version active in this environment "
        "(write {{> part@1.2.0}} for an exact one).",
    )


# The fields of a version's definition on the add forms (a template's first version, the next version).
DEFINITION_FIELDS = ["content", "messages", "variables", "model_config", "provider", "include_environment"]


def _part_lookup(environment: str | None) -> PartLookup:
    """Without deployments to ask (lifecycle.releases.admin's classes give one that asks them)."""
    return PartLookup(environment=environment)


def _form_with_parts(form: type[forms.BaseForm], lookup: Any) -> type[forms.BaseForm]:
    """The form class, finding unpinned parts with `lookup` when it checks a definition."""
    return type(form.__name__, (form,), {"part_lookup": staticmethod(lookup)})


class TemplateForm(forms.ModelForm):
    """The template's own fields; tags as text, so that new tags are made by the service, with the audit."""

    tags = forms.CharField(required=False, help_text="Comma-separated, e.g. support, billing")
    metadata = PrettyJSONFormField(
        rows=3, required=False, help_text='e.g. {"author": "support-team", "complexity": "low"}'
    )

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
    include_environment = _DefinitionFields.base_fields["include_environment"]
    part_lookup = staticmethod(_part_lookup)

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
                parts=self.part_lookup(data.get("include_environment") or None),
            )
        except DomainError as exc:
            _show_domain_error(self, exc)
        return data


class VersionInline(admin.TabularInline):
    model = TemplateVersion
    fields = ["number_link", "provider", "changelog", "created_by_name", "created_at"]
    readonly_fields = ["number_link", "provider", "changelog", "created_by_name", "created_at"]
    extra = 0
    can_delete = False
    show_change_link = False

    @admin.display(description="version")
    def number_link(self, version: TemplateVersion) -> str:
        url = reverse("admin:templates_app_templateversion_change", args=[version.pk])
        return format_html('<a href="{}">{}</a>', url, version.number)

    @admin.display(description="changelog")
    def changelog(self, version: TemplateVersion) -> str:
        return str(version.metadata.get("changelog") or "")

    @admin.display(description="created by")
    def created_by_name(self, version: TemplateVersion) -> str:
        return username_of(version.created_by)

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("created_by")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MineByDefaultFilter(admin.SimpleListFilter):
    """For authors: what they may change (by default), or everything. Only offered to authors who are not
    superusers (get_list_filter), for whom "may change" is "maintain"."""

    title = "maintainer"
    parameter_name = "maintainer"
    MINE, ALL = "me", "anyone"
    template_path = "pk"  # how the listed model reaches its template

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(self.MINE, "me"), (self.ALL, "anyone")]

    def value(self) -> str:
        return self.ALL if super().value() == self.ALL else self.MINE

    def choices(self, changelist: Any) -> Any:
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() == self.ALL:
            return queryset
        return queryset.filter(**{f"{self.template_path}__in": templates_changeable_by(acting_user(request))})


class MyVersionsByDefaultFilter(MineByDefaultFilter):
    template_path = "template"


def _filters_for(request: HttpRequest, filters: Any, mine: type[admin.SimpleListFilter]) -> list[Any]:
    user = acting_user(request)
    if has_role(user, Role.AUTHOR) and not user.is_superuser:
        return [mine, *filters]
    return list(filters)


class MineByDefaultChangeList(ChangeList):
    """A list whose "N total" (shown next to search results) counts what the maintainer filter lets through:
    Django counts every row, and its link to them ("?") would only lead back to the filtered list."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        mine = next((spec for spec in self.filter_specs if isinstance(spec, MineByDefaultFilter)), None)
        if mine is not None and mine.value() == mine.MINE and self.full_result_count is not None:
            self.full_result_count = mine.queryset(request, self.root_queryset).count()


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


def _snapshot_rows(template: PromptTemplate, record: Any) -> list[tuple[str, Any]]:
    """What a template's page showed after the change `record` made: its own fields, its tags and
    maintainers as recorded then, and the version that was latest at that moment."""
    latest = versions_of(template.pk).filter(created_at__lte=record.history_date).first()
    note = ""
    if latest is None and record.history_type == "+":
        # A template is recorded a moment before its first version, in the same transaction.
        latest, note = versions_of(template.pk).last(), " (created with the template)"
    if latest is not None:
        url = reverse("admin:templates_app_templateversion_change", args=[latest.pk])
        latest_shown: Any = format_html('<a href="{}">{}</a>{}', url, latest.number, note)
    else:
        latest_shown = NOTHING

    def names(manager: Any, path: str) -> str:
        return ", ".join(sorted(manager.values_list(path, flat=True))) or NOTHING

    return [
        ("name", record.name),
        ("description", record.description or NOTHING),
        ("category", record.category),
        ("tags", names(record.tags, "tag__name")),
        ("metadata", _key_values(record.metadata or {}, empty=NOTHING)),
        ("maintainers", names(record.maintainers, "user__username")),
        ("maintainer groups", names(record.maintainer_groups, "group__name")),
        ("latest version", latest_shown),
    ]


class PromptTemplateAdmin(DomainErrorsAsMessages, AuditedAdmin):
    """Templates: add one with its first version, edit its descriptive fields. Registered by
    lifecycle.releases.admin, whose subclass implements `create_template`."""

    change_form_template = "admin/templates_app/prompttemplate/change_form.html"
    list_display = ["name", "category", "latest_version_number", "provider", "updated_at"]
    list_filter = ["category", "tags"]
    search_fields = ["name", "description"]
    # Shown on an existing template's page below its editable fields, in this order; `id` goes to the
    # collapsed technical details.
    readonly_fields = ["latest_version_link", "created_by_name", "created_at", "updated_at", "id"]
    technical_fields = ["id"]
    inlines = [VersionInline]

    def create_template(self, request: HttpRequest, **fields: Any) -> PromptTemplate:
        """Create the template and its first version (the arguments of templates_app.services.create_template,
        with `include_environment` for its unpinned parts)."""
        raise NotImplementedError

    def part_lookup(self, environment: str | None) -> PartLookup:
        """How the add form finds unpinned parts (lifecycle.releases.admin asks what is active there)."""
        return _part_lookup(environment)

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("latest_version", "created_by")

    def get_list_filter(self, request: HttpRequest) -> Any:
        return _filters_for(request, super().get_list_filter(request), MineByDefaultFilter)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> Any:
        return MineByDefaultChangeList

    @admin.display(description="latest version")
    def latest_version_number(self, template: PromptTemplate) -> str:
        return template.latest_version.number if template.latest_version else "-"

    @admin.display(description="latest version")
    def latest_version_link(self, template: PromptTemplate) -> str:
        latest = template.latest_version
        if latest is None:
            return "-"
        url = reverse("admin:templates_app_templateversion_change", args=[latest.pk])
        return format_html('<a href="{}" id="latest-version">{}</a>', url, latest.number)

    @admin.display(description="provider")
    def provider(self, template: PromptTemplate) -> str:
        return template.latest_version.provider if template.latest_version else "-"

    @admin.display(description="created by")
    def created_by_name(self, template: PromptTemplate) -> str:
        return username_of(template.created_by)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        kwargs["form"] = _form_with_parts(TemplateAddForm, self.part_lookup) if obj is None else TemplateChangeForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return [
                (None, {"fields": ["name", "description", "category", "tags", "metadata"]}),
                ("First version", {"fields": DEFINITION_FIELDS}),
            ]
        technical = [field for field in self.get_readonly_fields(request, obj) if field in self.technical_fields]
        shown = [field for field in self.get_readonly_fields(request, obj) if field not in technical]
        editable = ["name", "description", "category", "tags", "metadata", "maintainers", "maintainer_groups"]
        return [
            (None, {"fields": [*editable, *shown]}),
            ("Technical details", {"fields": technical, "classes": ["collapse"]}),
        ]

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], add: bool = False, change: bool = False, **kwargs: Any
    ) -> Any:
        template = context.get("original")
        if template is not None and may_change(acting_user(request), template):
            context["add_next_version_url"] = _next_version_url(template)
        return super().render_change_form(request, context, add=add, change=change, **kwargs)

    def response_post_save_add(self, request: HttpRequest, obj: PromptTemplate) -> HttpResponse:
        # The next thing an author does with a new template is on its page (its versions, the next one).
        return HttpResponseRedirect(reverse("admin:templates_app_prompttemplate_change", args=[obj.pk]))

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The template as it was after one change. Not the edit form filled from the record: that form
        reads today's tags, maintainers and latest version, not the record's."""
        if request.method != "GET":
            raise DjangoPermissionDenied("History is read-only: changes go through the product's own forms.")
        template = self.get_object(request, unquote(object_id))
        if template is None:
            raise Http404
        if not self.has_view_or_change_permission(request, template):
            raise DjangoPermissionDenied
        try:
            record = PromptTemplate.history.select_related("history_user").get(id=template.pk, history_id=version_id)
        except (PromptTemplate.history.model.DoesNotExist, ValueError, ValidationError):
            raise Http404 from None
        context = {
            **self.admin_site.each_context(request),
            "title": f"{record.name}, as it was on {localtime(record.history_date):%Y-%m-%d %H:%M:%S}",
            "subtitle": None,
            "opts": self.opts,
            "module_name": self.opts.verbose_name_plural.capitalize(),
            "object": template,
            "record": record,
            "action": {"+": "created", "~": "changed", "-": "deleted"}.get(record.history_type, record.history_type),
            "changed_by": username_of(record.history_user),
            "rows": _snapshot_rows(template, record),
            "history_url": reverse("admin:templates_app_prompttemplate_history", args=[template.pk]),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/templates_app/prompttemplate/snapshot.html", context)

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
                include_environment=data.get("include_environment") or None,
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
    variables = PrettyJSONFormField(
        required=False, help_text="Starts as the latest version's variables; left empty, they are kept."
    )
    model_config = PrettyJSONFormField(
        required=False, label="Model config", help_text="Starts as the latest version's; left empty, it is kept."
    )
    provider = forms.CharField(
        required=False, max_length=50, help_text="Starts as the latest version's; left empty, it is kept."
    )
    changelog = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 100}))
    bump = forms.ChoiceField(
        choices=[("", "as computed")] + [(b.label, b.label) for b in Bump],
        required=False,
        help_text="Ask for a bigger step than the change needs (never a smaller one).",
    )
    include_environment = _DefinitionFields.base_fields["include_environment"]
    part_lookup = staticmethod(_part_lookup)

    class Meta:
        model = TemplateVersion
        fields = ["template"]

    def planned_input(self) -> dict[str, Any]:
        """The arguments of templates_app.services.create_version, but `include_environment` for `parts`."""
        data = self.cleaned_data
        return {
            "definition": _definition_fields(data),
            "metadata": {"changelog": data["changelog"]} if data.get("changelog") else {},
            "bump": Bump.from_label(data["bump"]) if data.get("bump") else None,
            "include_environment": data.get("include_environment") or None,
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors or data.get("template") is None:
            return data
        planned = self.planned_input()
        parts = self.part_lookup(planned.pop("include_environment"))
        try:
            plan_next_version(data["template"].latest_version, parts=parts, **planned)
        except DomainError as exc:
            _show_domain_error(self, exc)
        return data

    def _post_clean(self) -> None:
        pass  # the model instance is built by the service, not from this form


def _starting_point(latest: TemplateVersion) -> dict[str, Any]:
    """The add-version form's fields as the latest version's author wrote them (with its `{{> part}}`
    references and own variables, not the flattened text): an author edits what is there."""
    source = source_fields(latest)
    return {
        "content": source.get("content") or "",
        "messages": source.get("messages"),
        "variables": source["variables"],
        "model_config": latest.model_config,
        "provider": latest.provider,
        "include_environment": (latest.source or {}).get("environment", Environment.PRODUCTION),
    }


class TemplateVersionAdmin(DomainErrorsAsMessages, AuditedAdmin):
    """Versions: read-only once made, with their diff; add the next version of a template. Registered by
    lifecycle.releases.admin, whose subclass implements `create_version`."""

    change_form_template = "admin/templates_app/templateversion/change_form.html"
    list_display = ["template", "number", "provider", "created_by", "created_at"]
    list_filter = ["template__category", "created_at"]
    search_fields = ["template__name", "content", "metadata__changelog"]
    list_select_related = ["template", "created_by"]
    readonly_fields = [
        "template",
        "number",
        "changelog",
        "created_by_name",
        "created_at",
        "prompt",
        "source_text",
        "parts_table",
        "variables_table",
        "provider",
        "model_config_table",
        "changes_table",
        "diff_against_previous",
        "metadata_table",
        "id",
        "fingerprint",
    ]
    add_fields = ["template", *DEFINITION_FIELDS, "changelog", "bump"]

    def get_search_fields(self, request: HttpRequest) -> Any:
        # Encrypted text cannot be searched by the database (TEMPLATE_CONTENT_ENCRYPTION): by name and
        # changelog only, then.
        if TemplateVersion._meta.get_field("content").encrypts():  # type: ignore[union-attr]
            return [name for name in self.search_fields if name != "content"]
        return self.search_fields

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.add_fields if obj is None else self.readonly_fields

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return [(None, {"fields": self.add_fields})]
        built_from_parts = (
            [("Built from parts", {"fields": ["parts_table", "source_text"]})] if obj.source is not None else []
        )
        return [
            (None, {"fields": ["template", "number", "changelog", "created_by_name", "created_at"]}),
            ("Prompt", {"fields": ["prompt"]}),
            *built_from_parts,
            ("Variables", {"fields": ["variables_table"]}),
            ("Model", {"fields": ["provider", "model_config_table"]}),
            ("Changes from the version before", {"fields": ["changes_table", "diff_against_previous"]}),
            ("Technical details", {"fields": ["metadata_table", "id", "fingerprint"], "classes": ["collapse"]}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else []

    def get_list_filter(self, request: HttpRequest) -> Any:
        return _filters_for(request, super().get_list_filter(request), MyVersionsByDefaultFilter)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> Any:
        return MineByDefaultChangeList

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "template":  # versions are added to the templates the user may change
            kwargs["queryset"] = templates_changeable_by(acting_user(request)).order_by("name")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = _form_with_parts(VersionAddForm, self.part_lookup)
            kwargs["fields"] = None
        return super().get_form(request, obj, change=change, **kwargs)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """`?template=<id>` (the template page's "Add the next version"): the form starts from that
        template's latest version, if the user may add versions to it."""
        initial = super().get_changeform_initial_data(request)
        try:
            template = (
                templates_changeable_by(acting_user(request))
                .select_related("latest_version")
                .filter(pk=initial.get("template"))
                .first()
            )
        except (ValueError, ValidationError):  # not a template id
            template = None
        if template is not None and template.latest_version is not None:
            initial.update(_starting_point(template.latest_version))
        return initial

    def has_add_permission(self, request: HttpRequest) -> bool:
        # An add button only for someone with a template to add a version to.
        return super().has_add_permission(request) and _may_change_any(acting_user(request))

    def create_version(self, request: HttpRequest, **fields: Any) -> TemplateVersion:
        """Create the next version (VersionAddForm.planned_input's arguments, and `template_id`)."""
        raise NotImplementedError

    def part_lookup(self, environment: str | None) -> PartLookup:
        """How the add form finds unpinned parts (lifecycle.releases.admin asks what is active there)."""
        return _part_lookup(environment)

    def save_model(self, request: HttpRequest, obj: TemplateVersion, form: Any, change: bool) -> None:
        version = self.create_version(request, template_id=form.cleaned_data["template"].pk, **form.planned_input())
        # The admin names and links the object it thinks it saved: make it the version the service made.
        obj.pk, obj.template = version.pk, version.template
        obj.major, obj.minor, obj.patch = version.major, version.minor, version.patch
        obj._state.adding = False

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        _nothing_saved(formsets)

    def response_post_save_add(self, request: HttpRequest, obj: TemplateVersion) -> HttpResponse:
        # A new version's page: where it stands, and where to submit it.
        return HttpResponseRedirect(reverse("admin:templates_app_templateversion_change", args=[obj.pk]))

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], add: bool = False, change: bool = False, **kwargs: Any
    ) -> Any:
        version = context.get("original")
        if version is not None and may_change(acting_user(request), version.template):
            context["add_next_version_url"] = _next_version_url(version.template)
        return super().render_change_form(request, context, add=add, change=change, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # versions are immutable: viewing only

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="changelog")
    def changelog(self, version: TemplateVersion) -> str:
        return str(version.metadata.get("changelog") or NOTHING)

    @admin.display(description="created by")
    def created_by_name(self, version: TemplateVersion) -> str:
        return username_of(version.created_by)

    @admin.display(description="text or chat messages")
    def prompt(self, version: TemplateVersion) -> str:
        if version.messages is None:
            return format_html('<pre class="prompt-content">{}</pre>', version.content)
        rows = [
            (
                format_html("<b>{}</b>", message["role"]),
                format_html('<pre class="prompt-content">{}</pre>', message["content"]),
            )
            for message in version.messages
        ]
        return _table(["role", "content"], rows)

    @admin.display(description="as its author wrote it")
    def source_text(self, version: TemplateVersion) -> str:
        source = source_fields(version)
        if source.get("messages") is None:
            return format_html('<pre class="prompt-content" id="source-text">{}</pre>', source.get("content"))
        rows = [
            (
                format_html("<b>{}</b>", message["role"]),
                format_html('<pre class="prompt-content">{}</pre>', message["content"]),
            )
            for message in source["messages"]
        ]
        return _table(["role", "content"], rows)

    @admin.display(description="parts, as resolved when it was created")
    def parts_table(self, version: TemplateVersion) -> str:
        rows = [
            (
                format_html("<code>{{{{&gt; {}}}}}</code>", include.reference),
                include.where,
                f"{include.line}:{include.column}",
                format_html(
                    '<a href="{}">{} {}</a>',
                    reverse("admin:templates_app_templateversion_change", args=[include.part_id]),
                    include.part_template.name,
                    include.part.number,
                ),
                f"active in {include.environment} at creation" if include.environment else "pinned",
            )
            for include in includes_of(version.pk)
        ]
        return _table(["reference", "in", "line:column", "version included", "how"], rows, css="parts-table")

    @admin.display(description="variables")
    def variables_table(self, version: TemplateVersion) -> str:
        return variables_table(version.variables)

    @admin.display(description="model config")
    def model_config_table(self, version: TemplateVersion) -> str:
        return _key_values(version.model_config, empty="None")

    @admin.display(description="metadata")
    def metadata_table(self, version: TemplateVersion) -> str:
        return _key_values(version.metadata, empty="None")

    @admin.display(description="what changed, and the version step it needs")
    def changes_table(self, version: TemplateVersion) -> str:
        if not version.change_summary:
            return "The first version: nothing to compare with." if version_before(version) is None else "Nothing."
        rows = [
            (format_html('<span class="level level-{}">{}</span>', item["level"], item["level"]), item["change"])
            for item in version.change_summary
        ]
        return _table(["step", "change"], rows, css="version-changes")

    @admin.display(description="diff against the version before")
    def diff_against_previous(self, version: TemplateVersion) -> str:
        before = version_before(version)
        heading = f"against {before.number}, the version before" if before else "the first version: all of it is new"
        return diff_html(diff_versions(before, version), heading)


@admin.register(Tag)
class TagAdmin(ReadOnlyAdmin):
    """To look tags up. They are made and changed with templates (by the services, with the audit)."""

    search_fields = ["name"]
