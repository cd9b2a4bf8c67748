"""Trigger rules and alerts over HTTP: parse, call a service or selector, serialize."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from lifecycle.core.api.inputs import validated
from lifecycle.core.api.schema import errors
from lifecycle.core.roles import acting_user
from lifecycle.releases.rules import selectors, services
from lifecycle.releases.rules.api.serializers import (
    AlertOutput,
    CreatedRuleOutput,
    PresetsInput,
    RuleCreateInput,
    RuleFieldsInput,
    RuleOutput,
    TemplateQuery,
    service_fields,
)
from lifecycle.releases.rules.models import Alert, TriggerRule

_EXAMPLE_RULE = {
    "templateId": "0b5c3e4e-2f5d-4c38-9a51-3c8f2a7d9e10",
    "environment": "production",
    "metric": "success_rate",
    "operator": "lt",
    "threshold": 95,
    "baseline": "absolute",
    "windowMinutes": 15,
    "minExecutions": 100,
    "consecutiveBreaches": 3,
    "cooldownMinutes": 60,
    "action": "rollback",
    "enabled": True,
    "dryRun": False,
    "notify": {"emails": ["oncall@example.com"], "webhookUrl": "https://hooks.example.com/prompt-alerts"},
}


def _rule_output(request: Request, rule: TriggerRule, output: type[RuleOutput] = RuleOutput) -> dict[str, Any]:
    return output(selectors.rule_by_id(rule.pk), context=_viewing(request)).data  # type: ignore[return-value]


def _viewing(request: Request) -> dict[str, Any]:
    """The serializers' context: who reads (selectors.webhook_url_shown_to decides what they see)."""
    return {"viewer": acting_user(request)}


class TriggerListCreateApi(generics.GenericAPIView):
    queryset = TriggerRule.objects.none()  # for the schema; get() reads selectors.rules_for_listing()
    serializer_class = RuleOutput

    @extend_schema(
        parameters=[TemplateQuery],
        responses={200: RuleOutput(many=True)},
        summary="Rollback trigger rules, newest first",
    )
    def get(self, request: Request) -> Response:
        query = validated(TemplateQuery, request.query_params)
        page = self.paginate_queryset(selectors.rules_for_listing(template_id=query.get("templateId")))
        return self.get_paginated_response(RuleOutput(page, many=True, context=_viewing(request)).data)

    @extend_schema(
        request=RuleCreateInput,
        responses={201: CreatedRuleOutput, **errors(403)},
        examples=[OpenApiExample("success rate below 95 %", value=_EXAMPLE_RULE, request_only=True)],
        summary="Create a rule (deployers): 400 names each wrong field",
    )
    def post(self, request: Request) -> Response:
        data = validated(RuleCreateInput, request.data)
        rule = services.create_rule(actor=acting_user(request), **service_fields(data))
        return Response(_rule_output(request, rule, CreatedRuleOutput), status=status.HTTP_201_CREATED)


class TriggerDetailApi(APIView):
    @extend_schema(responses={200: RuleOutput, **errors(404)}, summary="A rollback trigger rule")
    def get(self, request: Request, rule_id: UUID) -> Response:
        return Response(RuleOutput(selectors.rule_by_id(rule_id), context=_viewing(request)).data)

    @extend_schema(
        request=RuleFieldsInput,
        responses={200: RuleOutput, **errors(403, 404)},
        examples=[OpenApiExample("turn it on", value={"enabled": True, "threshold": 97}, request_only=True)],
        summary="Change a rule (deployers): the fields given change; its template and environment are fixed",
    )
    def patch(self, request: Request, rule_id: UUID) -> Response:
        data = validated(RuleFieldsInput, request.data, partial=True)
        rule = services.update_rule(actor=acting_user(request), rule_id=rule_id, changes=service_fields(data))
        return Response(_rule_output(request, rule))

    @extend_schema(
        request=None,
        responses={204: OpenApiResponse(description="deleted"), **errors(403, 404)},
        summary="Delete a rule (deployers): its evaluations and alerts stay",
    )
    def delete(self, request: Request, rule_id: UUID) -> Response:
        services.delete_rule(actor=acting_user(request), rule_id=rule_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TriggerPresetsApi(APIView):
    @extend_schema(
        request=PresetsInput,
        responses={201: RuleOutput(many=True), **errors(403)},
        examples=[
            OpenApiExample(
                "the recommended alerts",
                value={"templateId": _EXAMPLE_RULE["templateId"], "environment": "production", "dailyCostBudget": 100},
                request_only=True,
            )
        ],
        summary=(
            "Create the recommended alerts for a template, disabled: success rate below 95 %, p95 above 5 s, "
            "daily cost above a budget, error rate up 50 % from the previous version (those it lacks)"
        ),
    )
    def post(self, request: Request) -> Response:
        data = validated(PresetsInput, request.data)
        rules = services.create_presets(
            actor=acting_user(request),
            template_id=data["templateId"],
            environment=data["environment"],
            daily_cost_budget=data.get("dailyCostBudget"),
        )
        chosen = selectors.rules_for_listing().filter(pk__in=[rule.pk for rule in rules])
        output = RuleOutput(chosen, many=True, context=_viewing(request))
        return Response(output.data, status=status.HTTP_201_CREATED)


class AlertListApi(generics.GenericAPIView):
    queryset = Alert.objects.none()  # for the schema; get() reads selectors.alerts_for_listing()
    serializer_class = AlertOutput

    @extend_schema(
        parameters=[TemplateQuery],
        responses={200: AlertOutput(many=True)},
        summary="Alerts fired by rules, newest first, with their evidence",
    )
    def get(self, request: Request) -> Response:
        query = validated(TemplateQuery, request.query_params)
        page = self.paginate_queryset(selectors.alerts_for_listing(template_id=query.get("templateId")))
        return self.get_paginated_response(AlertOutput(page, many=True).data)
