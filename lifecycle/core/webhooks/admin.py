"""Webhook subscriptions in the admin, for superusers: the same services as /api/webhooks (the secret shown
once, when made or rotated), and a link to each subscription's deliveries.

Registered by CoreConfig.ready (the admin's autodiscovery imports only lifecycle.core.admin).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from lifecycle.core.exceptions import InvalidInput, NotFound
from lifecycle.core.outbox.webhooks import check_webhook_destination
from lifecycle.core.roles import acting_user
from lifecycle.core.webhooks import services
from lifecycle.core.webhooks.events import EVENTS
from lifecycle.core.webhooks.models import WebhookSubscription


class SubscriptionForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=[(name, f"{name}: {meaning}") for name, meaning in EVENTS.items()],
        widget=forms.CheckboxSelectMultiple,
    )
    template_id = forms.CharField(
        required=False, label="Template id", help_text="Only this template's events; empty: every template's."
    )

    class Meta:
        model = WebhookSubscription
        fields = ("url", "description", "events", "template_id", "active")

    def clean_url(self) -> str:
        url = self.cleaned_data.get("url") or ""
        try:
            return check_webhook_destination(url)
        except InvalidInput as error:
            raise forms.ValidationError(" ".join(error.fields.get("url", [error.message]))) from None

    def clean_template_id(self) -> UUID | None:
        try:
            return services.checked_template_id((self.cleaned_data.get("template_id") or "").strip())
        except InvalidInput as error:
            raise forms.ValidationError(" ".join(error.fields.get("templateId", [error.message]))) from None

    def _post_clean(self) -> None:
        # The instance is saved by the services (save_model), which check all of it again.
        pass


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = ("url", "event_list", "template_id", "active", "created_at", "deliveries")
    list_filter = ("active",)
    search_fields = ("url", "description")
    actions = ["rotate_secrets"]

    # Subscriptions send every team's events anywhere: superusers only (as the services decide).
    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    @admin.display(description="events")
    def event_list(self, subscription: WebhookSubscription) -> str:
        return ", ".join(subscription.events)

    @admin.display(description="deliveries")
    def deliveries(self, subscription: WebhookSubscription) -> SafeString:
        url = reverse("admin:core_delivery_changelist") + "?" + urlencode({"q": subscription.source})
        return format_html('<a href="{}">deliveries</a>', url)

    def save_model(self, request: HttpRequest, obj: WebhookSubscription, form: Any, change: bool) -> None:
        data = form.cleaned_data
        fields = {name: data[name] for name in ("url", "description", "events", "template_id", "active")}
        if change:
            saved = services.update_subscription(actor=acting_user(request), subscription_id=obj.pk, changes=fields)
        else:
            saved, secret = services.create_subscription(actor=acting_user(request), **fields)
            obj._new_secret = secret  # type: ignore[attr-defined]  # for response_add's page, and nothing else
        # The page's own object, as the service saved it (the admin names it in its log, and links to it).
        obj.__dict__.update({name: value for name, value in saved.__dict__.items() if not name.startswith("_")})

    def response_add(self, request: HttpRequest, obj: WebhookSubscription, post_url_continue: str | None = None) -> Any:
        # The secret on a page of its own, once: a message would travel in a cookie, or rest in the session table.
        lead = f"The signing secret of the new subscription to {obj.url}."
        return self._secrets_page(request, "New subscription", lead, [(obj, obj._new_secret)])  # type: ignore[attr-defined]

    def _secrets_page(
        self, request: HttpRequest, title: str, lead: str, secrets: list[tuple[WebhookSubscription, str]]
    ) -> TemplateResponse:
        context = {**self.admin_site.each_context(request), "title": title, "lead": lead, "secrets": secrets}
        return TemplateResponse(request, "admin/core/webhooksubscription/secret_once.html", context)

    def delete_model(self, request: HttpRequest, obj: WebhookSubscription) -> None:
        services.delete_subscription(actor=acting_user(request), subscription_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> None:
        for subscription in queryset:
            services.delete_subscription(actor=acting_user(request), subscription_id=subscription.pk)

    @admin.action(description="Rotate the signing secret of the selected subscriptions")
    def rotate_secrets(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> TemplateResponse:
        rotated, gone = [], []
        for subscription in queryset:
            try:
                rotated.append(services.rotate_secret(actor=acting_user(request), subscription_id=subscription.pk))
            except NotFound:  # deleted since the list was shown: the others' new secrets must still be seen
                gone.append(subscription.url)
        lead = (
            f"The new signing secrets of {len(rotated)} subscription(s): deliveries written from now on are signed "
            "with them (retries of earlier ones keep the secret they were written with)."
        )
        if gone:
            lead += f" Deleted meanwhile, not rotated: {', '.join(gone)}."
        return self._secrets_page(request, "Rotated secrets", lead, rotated)
