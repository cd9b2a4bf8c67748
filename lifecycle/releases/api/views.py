"""Render, resolve, deploy, rollback, and what was live where (deployments, rollbacks, the audit trail) over
HTTP."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.utils.http import parse_etags
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from approvals.api.serializers import ApprovalRequestDetailOutput
from approvals.api.views import RequestDetailApi
from approvals.selectors import request_by_id
from lifecycle.core.api.fastpath import FastPathMixin
from lifecycle.core.api.inputs import validated
from lifecycle.core.api.negotiation import JSONOnly
from lifecycle.core.api.schema import errors
from lifecycle.core.environments import Environment, check_environment
from lifecycle.core.roles import acting_user
from lifecycle.releases import selectors
from lifecycle.releases.api.serializers import (
    ApprovalRequestWithReachOutput,
    AuditEntryOutput,
    BundleOutput,
    BundleQuery,
    DependentsOutput,
    DeploymentOutput,
    DeploymentsQuery,
    EnvironmentInput,
    PromoteInput,
    PromoteOutput,
    RenderInput,
    RenderOutput,
    ResolveOutput,
    RollbackEmergencyInput,
    RollbackHistoryQuery,
    RollbackInitiateInput,
    RollbackOutput,
    RollbackValidateQuery,
    RollbackValidationOutput,
    TemplateSetInput,
    read_render_input,
    validation_json,
)
from lifecycle.releases.bundles import Bundle, client_bundle, register_set, set_bundle
from lifecycle.releases.models import Deployment, Rollback
from lifecycle.releases.parts import dependents_of
from lifecycle.releases.services import deploy_version, initiate_rollback, promote_variant, roll_back_in_emergency
from templates_app.models import PromptTemplate
from templates_app.selectors import template_by_id


class RenderApi(FastPathMixin, APIView):
    """The product's hottest request: it runs on every LLM call of every integration.

    Requests with a token and a JSON body take FastPathMixin's short way to `render`; others (session
    users, and every error) take DRF's way to the same `render`.
    """

    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONOnly
    throttle_scope = "render"

    @staticmethod
    def render(data: dict[str, Any], template_id: UUID) -> dict[str, Any]:
        body = read_render_input(data)
        what = selectors.served(template_id, body.environment, body.subject_id)
        return selectors.render_served(what, body.environment, body.variables).to_json()

    def serve_fast(self, request: Any, token: str, data: dict[str, Any], **kwargs: Any) -> dict[str, Any] | None:
        body = read_render_input(data)
        # One database round trip for every question: who is this, what is live there, and (with a subject)
        # whether an A/B test runs there: its variants are in memory, the subject's is computed.
        credential, what = selectors.credential_and_served(
            token, kwargs["template_id"], body.environment, body.subject_id
        )
        if credential is None:
            return None  # DRF's way answers the 401
        self.admit(request, credential)
        return selectors.render_served(what, body.environment, body.variables).to_json()

    @extend_schema(
        request=RenderInput,
        responses={200: RenderOutput, **errors(404)},
        summary="Render the active version (404: unknown template, or nothing active in the environment)",
    )
    def post(self, request: Request, template_id: UUID) -> Response:
        return Response(self.render(request.data, template_id))  # type: ignore[arg-type]  # StrictJSONParser: an object


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match's weak comparison (RFC 9110 13.1.2), parsed by Django: `*`, or the same opaque tag."""
    candidates = [candidate.removeprefix("W/") for candidate in parse_etags(header)]
    return "*" in candidates or etag in candidates


class ResolveApi(APIView):
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONOnly

    @extend_schema(
        parameters=[
            OpenApiParameter("environment", str, enum=Environment.values, default=Environment.PRODUCTION),
            OpenApiParameter(
                "If-None-Match", str, OpenApiParameter.HEADER, description="the ETag of the answer you hold"
            ),
            OpenApiParameter(
                "ETag",
                str,
                OpenApiParameter.HEADER,
                response=[200, 304],
                description="names the version and environment: send it back in If-None-Match",
            ),
            OpenApiParameter(
                "Cache-Control", str, OpenApiParameter.HEADER, response=[200, 304], description="private, no-cache"
            ),
        ],
        responses={
            200: ResolveOutput,
            304: OpenApiResponse(description="unchanged since the ETag you sent"),
            **errors(404),
        },
        summary="The active version, for clients that render themselves",
    )
    def get(self, request: Request, template_id: UUID) -> Response:
        environment = check_environment(request.query_params.get("environment", Environment.PRODUCTION))
        plan = selectors.active_plan(template_id, environment)
        # A version never changes, so its id (with the environment echoed in the body) names the body.
        etag = f'"{plan.version_id.hex}-{environment}"'
        headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
        if _etag_matches(request.headers.get("If-None-Match", ""), etag):
            return Response(status=304, headers=headers)
        definition = plan.definition
        body = {
            "templateId": str(plan.template_id),
            "versionId": str(plan.version_id),
            "version": plan.version,
            "environment": environment,
            "content": definition.content,
            "messages": definition.messages_json(),
            "variables": definition.variables_json(),
            "modelConfig": definition.model_config,
            "provider": definition.provider,
            "includes": [part.to_json() for part in plan.includes],
        }
        return Response(body, headers=headers)


_IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match", str, OpenApiParameter.HEADER, description="the ETag of the bundle you hold"
)
_BUNDLE_HEADERS = [
    OpenApiParameter(
        "ETag",
        str,
        OpenApiParameter.HEADER,
        response=[200, 304],
        description="names this bundle: send it back in If-None-Match",
    ),
    OpenApiParameter(
        "Cache-Control", str, OpenApiParameter.HEADER, response=[200, 304], description="private, no-cache"
    ),
]


def _conditional(request: Request, bundle: Bundle, **extra: Any) -> Response:
    """The bundle, or 304 when the client's If-None-Match still names it."""
    headers = {"ETag": bundle.etag, "Cache-Control": "private, no-cache"}
    if _etag_matches(request.headers.get("If-None-Match", ""), bundle.etag):
        return Response(status=304, headers=headers)
    return Response({**extra, **bundle.body}, headers=headers)


class BundleApi(APIView):
    """What a client that renders by itself polls: every template it uses, in one conditional request. A few
    templates fit the query string (GET); any number are registered once as a set (POST), whose bundle is
    then polled by its id (BundleSetApi)."""

    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONOnly

    @extend_schema(
        parameters=[BundleQuery, _IF_NONE_MATCH, *_BUNDLE_HEADERS],
        responses={200: BundleOutput, 304: OpenApiResponse(description="nothing changed since the ETag you sent")},
        summary="Templates, what each serves and tests in an environment, and those versions, for local render",
    )
    def get(self, request: Request) -> Response:
        query = validated(
            BundleQuery,
            # `template` repeats: every value, not the last
            {**request.query_params.dict(), "template": request.query_params.getlist("template")},
        )
        return _conditional(request, client_bundle(query["template"], query["environment"]))

    @extend_schema(
        request=TemplateSetInput,
        parameters=_BUNDLE_HEADERS,
        responses={200: BundleOutput},
        summary="Register a set of templates (any number) and get its bundle; poll it at /api/templates/bundle/{setId}",
    )
    def post(self, request: Request) -> Response:
        body = validated(TemplateSetInput, request.data)
        registered = register_set(body["templates"], body["environment"])
        bundle = set_bundle(registered.pk)
        headers = {
            "ETag": bundle.etag,
            "Cache-Control": "private, no-cache",
            "Location": f"/api/templates/bundle/{registered.pk}",
        }
        return Response({"setId": registered.pk, **bundle.body}, headers=headers)


class BundleSetApi(APIView):
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONOnly

    @extend_schema(
        parameters=[_IF_NONE_MATCH, *_BUNDLE_HEADERS],
        responses={
            200: BundleOutput,
            304: OpenApiResponse(description="nothing changed since the ETag you sent"),
            **errors(404),
        },
        summary="A registered set's bundle (404: register the set again)",
        operation_id="templates_bundle_set_retrieve",
    )
    def get(self, request: Request, set_id: str) -> Response:
        return _conditional(request, set_bundle(set_id), setId=set_id)


class DependentsApi(APIView):
    @extend_schema(
        responses={200: DependentsOutput, **errors(404)},
        summary="The templates that include this one, per environment: the reach of a change to it",
    )
    def get(self, request: Request, template_id: UUID) -> Response:
        return Response(DependentsOutput(dependents_of(template_id)).data)


class ApprovalRequestWithReachApi(RequestDetailApi):
    """approvals' request detail, with the reach of the version's template when others include it: who
    reviews a shared part sees which prompts would take it up (each through its own review)."""

    @extend_schema(
        responses={200: ApprovalRequestWithReachOutput, **errors(404)},
        summary="A request, its stages, comments, history, and the templates that include its template",
    )
    def get(self, request: Request, request_id: UUID) -> Response:
        approval = request_by_id(request_id)
        body = ApprovalRequestDetailOutput(approval).data
        reach = DependentsOutput(dependents_of(approval.version.template_id)).data
        return Response({**body, "dependents": reach})


class DeployApi(APIView):
    @extend_schema(
        request=EnvironmentInput,
        responses={200: DeploymentOutput, **errors(403, 404, 409)},
        summary="Deploy a version (409: not approved for that environment)",
    )
    def put(self, request: Request, version_id: UUID) -> Response:
        data = validated(EnvironmentInput, request.data)
        deployment = deploy_version(actor=acting_user(request), version_id=version_id, environment=data["environment"])
        return Response(DeploymentOutput(deployment).data)


class PromoteApi(APIView):
    @extend_schema(
        request=PromoteInput,
        responses={200: PromoteOutput, **errors(403, 404, 409)},
        summary="Deploy an A/B test's variant to its environment and complete the test with it as the winner",
    )
    def post(self, request: Request, test_id: UUID) -> Response:
        data = validated(PromoteInput, request.data)
        promoted = promote_variant(actor=acting_user(request), test_id=test_id, variant_key=data["variantId"])
        return Response(PromoteOutput(promoted).data)


class TemplateHistoryApi(generics.GenericAPIView):
    queryset = PromptTemplate.objects.none()  # for the schema; the trail is gathered by a selector
    serializer_class = AuditEntryOutput

    @extend_schema(
        responses={200: AuditEntryOutput(many=True), **errors(404)}, summary="The template's audit trail, newest first"
    )
    def get(self, request: Request, template_id: UUID) -> Response:
        template_by_id(template_id)  # 404 for an unknown template, rather than an empty trail
        entries = selectors.audit_trail_for_template(template_id)
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(AuditEntryOutput(page, many=True).data)


class TemplateDeploymentsApi(generics.GenericAPIView):
    queryset = Deployment.objects.none()  # for the schema; the list comes from a selector
    serializer_class = DeploymentOutput

    @extend_schema(
        parameters=[DeploymentsQuery],
        responses={200: DeploymentOutput(many=True), **errors(404)},
        summary="What was live where and when, newest first: every deployment and how it came about",
    )
    def get(self, request: Request, template_id: UUID) -> Response:
        query = validated(DeploymentsQuery, request.query_params)
        deployments = selectors.deployments_of_template(template_id, query.get("environment"))
        page = self.paginate_queryset(deployments)
        return self.get_paginated_response(DeploymentOutput(page, many=True).data)


class RollbackValidateApi(APIView):
    @extend_schema(
        parameters=[RollbackValidateQuery],
        responses={200: RollbackValidationOutput, **errors(403, 404)},
        summary="Whether a rollback to the target is valid, and its impact (deployers)",
    )
    def get(self, request: Request) -> Response:
        query = validated(RollbackValidateQuery, request.query_params)
        validation = selectors.validate_rollback(
            actor=acting_user(request),
            current_version_id=query["currentVersionId"],
            target_version_id=query["targetVersionId"],
            environment=query["environment"],
            force=query["force"],
        )
        return Response(validation_json(validation))


# The original README's examples, with ids to replace by yours: also what generated clients show.
_EXAMPLE_ID = "0b5c3e4e-2f5d-4c38-9a51-3c8f2a7d9e10"


class RollbackInitiateApi(APIView):
    @extend_schema(
        request=RollbackInitiateInput,
        responses={
            201: OpenApiResponse(RollbackOutput, description="Rolled back: the environment serves the target."),
            **errors(403, 404, 409),
        },
        summary="Roll back to a chosen version (deployers; 400 naming each reason it is invalid, 409 when the "
        "current version is no longer the active one)",
        examples=[
            OpenApiExample(
                "Manual rollback",
                request_only=True,
                value={
                    "currentVersionId": _EXAMPLE_ID,
                    "targetVersionId": _EXAMPLE_ID,
                    "reason": "Performance degradation detected",
                    "rollbackType": "manual",
                    "environment": "staging",
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = validated(RollbackInitiateInput, request.data)
        rollback = initiate_rollback(
            actor=acting_user(request),
            current_version_id=data["currentVersionId"],
            target_version_id=data["targetVersionId"],
            reason=data["reason"],
            environment=data["environment"],
            force=data["force"],
        )
        return Response(RollbackOutput(rollback).data, status=status.HTTP_201_CREATED)


class RollbackEmergencyApi(APIView):
    @extend_schema(
        request=RollbackEmergencyInput,
        responses={
            201: OpenApiResponse(
                RollbackOutput, description="Rolled back to the last good version, without new approvals."
            ),
            **errors(403, 404, 409),
        },
        summary="Emergency rollback to the last good version (deployers, security; 409 when there is none)",
        examples=[
            OpenApiExample(
                "Emergency rollback",
                request_only=True,
                value={
                    "templateId": _EXAMPLE_ID,
                    "environment": "staging",
                    "reason": "Critical security vulnerability",
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = validated(RollbackEmergencyInput, request.data)
        rollback = roll_back_in_emergency(
            actor=acting_user(request),
            template_id=data["templateId"],
            environment=data["environment"],
            reason=data["reason"],
        )
        return Response(RollbackOutput(rollback).data, status=status.HTTP_201_CREATED)


class RollbackHistoryApi(generics.GenericAPIView):
    queryset = Rollback.objects.none()  # for the schema; the list comes from a selector
    serializer_class = RollbackOutput

    @extend_schema(
        parameters=[RollbackHistoryQuery],
        responses={200: RollbackOutput(many=True), **errors(404)},
        summary="Every rollback, newest first: manual, emergency and automatic, with who or which rule and why",
    )
    def get(self, request: Request) -> Response:
        query = validated(RollbackHistoryQuery, request.query_params)
        page = self.paginate_queryset(selectors.rollback_history(query.get("templateId")))
        return self.get_paginated_response(RollbackOutput(page, many=True).data)
