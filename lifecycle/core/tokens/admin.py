"""API tokens in the admin, for superusers: every user's tokens, made (the key shown once) and revoked through
the same services as /api/tokens. A token is never edited: a new name or expiry is a new token.

Registered by CoreConfig.ready (the admin's autodiscovery imports only lifecycle.core.admin).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse

from lifecycle.core.exceptions import DomainError, InvalidInput
from lifecycle.core.roles import acting_user
from lifecycle.core.tokens import services
from lifecycle.core.tokens.models import ApiToken


class TokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ("user", "name", "expires_at")

    def clean_name(self) -> str:
        try:
            return services.checked_name(self.cleaned_data.get("name"))
        except InvalidInput as error:
            raise forms.ValidationError(" ".join(error.fields["name"])) from None

    def clean_expires_at(self) -> Any:
        try:
            return services.checked_expiry(self.cleaned_data.get("expires_at"))
        except InvalidInput as error:
            raise forms.ValidationError(" ".join(error.fields["expiresAt"])) from None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("user") is not None and data.get("name"):
            try:
                services.check_room_for(data["user"], data["name"])
            except DomainError as error:
                raise forms.ValidationError(error.message) from None
        return data

    def _post_clean(self) -> None:
        # The token is made by the service (save_model), which checks it again and makes its key.
        pass


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    form = TokenForm
    list_display = ("name", "user", "prefix", "state", "created_at", "last_used_at", "expires_at", "revoked_at")
    list_filter = ("revoked_at", "expires_at")
    search_fields = ("name", "user__username", "prefix")
    list_select_related = ("user",)
    actions = ["revoke_tokens"]
    readonly_fields = ("prefix", "created_at", "created_by", "last_used_at", "revoked_at", "revoked_by")

    # Tokens open every team's data: superusers only (users manage their own over /api/tokens).
    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # never edited; revoked by the action

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoked, not deleted: access reviews read them

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("user", "name", "expires_at")
        return ("user", "name", "prefix", "created_at", "created_by", "expires_at", "last_used_at", "revoked_at")

    @admin.display(description="state")
    def state(self, token: ApiToken) -> str:
        return token.state_now

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        data = form.cleaned_data
        try:
            saved, key = services.create_token(
                actor=acting_user(request), name=data["name"], expires_at=data["expires_at"], owner=data["user"]
            )
        except DomainError as error:  # taken by a request in between the form's check and this
            obj._refused = error.message  # type: ignore[attr-defined]
            return
        # The page's own object, as the service saved it (the admin names it in its log, and links to it).
        obj.__dict__.update({name: value for name, value in saved.__dict__.items() if not name.startswith("_")})
        obj._new_key = key  # type: ignore[attr-defined]  # for response_add's page, and nothing else

    def log_addition(self, request: HttpRequest, obj: ApiToken, message: Any) -> Any:
        if getattr(obj, "_refused", None) is None:  # nothing was added when the service refused
            return super().log_addition(request, obj, message)
        return None

    def response_add(self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None) -> Any:
        refused = getattr(obj, "_refused", None)
        if refused is not None:
            messages.error(request, refused)
            return HttpResponseRedirect(request.path)
        # The key on a page of its own, once: a message would travel in a cookie, or rest in the session table.
        context = {**self.admin_site.each_context(request), "title": "New API token", "token": obj, "key": obj._new_key}  # type: ignore[attr-defined]
        return TemplateResponse(request, "admin/core/apitoken/key_once.html", context)

    @admin.action(description="Revoke the selected tokens")
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            services.revoke_token(actor=acting_user(request), token_id=token.pk)
        messages.success(request, f"Revoked {queryset.count()} token(s); they are refused from now on.")
