"""Webhook subscriptions over HTTP (`/api/webhooks`, superusers): thin views over the services."""

from __future__ import annotations

from uuid import UUID

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from lifecycle.core.api.inputs import validated
from lifecycle.core.api.schema import errors
from lifecycle.core.outbox.models import DeliveryAttempt
from lifecycle.core.roles import acting_user
from lifecycle.core.webhooks import selectors, services
from lifecycle.core.webhooks.api.serializers import (
    AttemptOutput,
    SubscriptionChangeInput,
    SubscriptionInput,
    SubscriptionOutput,
    SubscriptionWithSecretOutput,
)


def _with_secret(subscription: object, secret: str) -> dict[str, object]:
    return {**SubscriptionOutput(subscription).data, "secret": secret}


class SubscriptionListApi(APIView):
    @extend_schema(responses={200: SubscriptionOutput(many=True), **errors(403)}, summary="Every subscription")
    def get(self, request: Request) -> Response:
        return Response(SubscriptionOutput(selectors.subscriptions(acting_user(request)), many=True).data)

    @extend_schema(
        request=SubscriptionInput,
        responses={201: SubscriptionWithSecretOutput, **errors(403)},
        summary="Subscribe a URL to lifecycle events (the signing secret is in this answer only)",
    )
    def post(self, request: Request) -> Response:
        body = validated(SubscriptionInput, request.data)
        subscription, secret = services.create_subscription(
            actor=acting_user(request),
            url=body["url"],
            events=body["events"],
            template_id=body.get("templateId"),
            description=body.get("description", ""),
            active=body.get("active", True),
        )
        return Response(_with_secret(subscription, secret), status=status.HTTP_201_CREATED)


class SubscriptionDetailApi(APIView):
    @extend_schema(responses={200: SubscriptionOutput, **errors(403, 404)}, summary="A subscription")
    def get(self, request: Request, subscription_id: UUID) -> Response:
        return Response(SubscriptionOutput(selectors.subscription_for(acting_user(request), subscription_id)).data)

    @extend_schema(
        request=SubscriptionChangeInput,
        responses={200: SubscriptionOutput, **errors(403, 404)},
        summary="Change a subscription's URL, events, templates, description or whether it is active",
    )
    def patch(self, request: Request, subscription_id: UUID) -> Response:
        body = validated(SubscriptionChangeInput, request.data)
        if "templates" in body:
            body["templates"] = [str(template) for template in body["templates"]]
        changed = services.update_subscription(
            actor=acting_user(request), subscription_id=subscription_id, changes=body
        )
        return Response(SubscriptionOutput(changed).data)

    @extend_schema(
        request=None,
        responses={204: OpenApiResponse(description="deleted"), **errors(403, 404)},
        summary="Unsubscribe (deliveries already written are still sent)",
    )
    def delete(self, request: Request, subscription_id: UUID) -> Response:
        services.delete_subscription(actor=acting_user(request), subscription_id=subscription_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RotateSecretApi(APIView):
    @extend_schema(
        request=None,
        responses={200: SubscriptionWithSecretOutput, **errors(403, 404)},
        summary="A new signing secret (in this answer only) for deliveries from now on; retries of earlier "
        "deliveries keep the old one",
    )
    def post(self, request: Request, subscription_id: UUID) -> Response:
        subscription, secret = services.rotate_secret(actor=acting_user(request), subscription_id=subscription_id)
        return Response(_with_secret(subscription, secret))


class DeliveriesApi(generics.GenericAPIView):
    queryset = DeliveryAttempt.objects.none()  # for the schema; the list comes from a selector
    serializer_class = AttemptOutput

    @extend_schema(
        responses={200: AttemptOutput(many=True), **errors(403, 404)},
        summary="Every attempt at delivering the subscription's events, newest first: event, status code, "
        "error, duration",
    )
    def get(self, request: Request, subscription_id: UUID) -> Response:
        page = self.paginate_queryset(selectors.attempts_of(acting_user(request), subscription_id))
        return self.get_paginated_response(AttemptOutput(page, many=True).data)
