"""Templates and versions over HTTP, as authors create them and everyone reads them: with what is live
where. Created through lifecycle.releases.services, so that each new version is active in development
from the moment it exists (a rule across templates_app and this app, composed here)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from lifecycle.core.api.inputs import errors_under, validated
from lifecycle.core.api.schema import errors
from lifecycle.core.roles import acting_user
from lifecycle.releases import selectors
from lifecycle.releases.api.serializers import TemplateDetailOutput, VersionDetailOutput
from lifecycle.releases.parts import updates_available
from lifecycle.releases.services import create_template_live_in_development, create_version_live_in_development
from templates_app.api.filters import TemplateFilter
from templates_app.api.serializers import DefinitionInput, TemplateCreateInput, TemplateOutput, VersionCreateInput
from templates_app.models import PromptTemplate, TemplateVersion
from templates_app.selectors import template_by_id, templates_for_listing, version_by_id, versions_of
from templates_app.semver import Bump


def template_detail(template: PromptTemplate) -> dict[str, Any]:
    context = {
        "versions": versions_of(template.pk),
        "active": selectors.active_deployments_of(template.pk),
        "updates": updates_available(template.latest_version) if template.latest_version is not None else [],
    }
    return TemplateDetailOutput(template, context=context).data  # type: ignore[return-value]


def version_detail(version: TemplateVersion) -> dict[str, Any]:
    context = {"live": selectors.live_state_of_versions([version.pk])}
    return VersionDetailOutput(version, context=context).data  # type: ignore[return-value]


class TemplateListCreateApi(generics.GenericAPIView):
    queryset = PromptTemplate.objects.none()  # for the schema; get() reads templates_for_listing()
    filterset_class = TemplateFilter
    serializer_class = TemplateOutput

    @extend_schema(responses=TemplateOutput(many=True), summary="List templates")
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(templates_for_listing()))
        return self.get_paginated_response(TemplateOutput(page, many=True).data)

    @extend_schema(
        request=TemplateCreateInput,
        responses={201: TemplateDetailOutput, **errors(403, 409)},
        summary="Create a template and its first version (active in development at once)",
        filters=False,
    )
    def post(self, request: Request) -> Response:
        data = validated(TemplateCreateInput, request.data)
        template = create_template_live_in_development(
            actor=acting_user(request),
            name=data["name"],
            description=data["description"],
            category=data["category"],
            tags=data["tags"],
            metadata=data["metadata"],
            definition=DefinitionInput.fields_of(data),
            include_environment=data.get("environment"),
        )
        return Response(template_detail(template_by_id(template.pk)), status=status.HTTP_201_CREATED)


class TemplateDetailApi(APIView):
    @extend_schema(
        responses={200: TemplateDetailOutput, **errors(404)}, summary="A template, its latest version and what is live"
    )
    def get(self, request: Request, template_id: UUID) -> Response:
        return Response(template_detail(template_by_id(template_id)))


class VersionCreateApi(APIView):
    @extend_schema(
        request=VersionCreateInput,
        responses={201: VersionDetailOutput, **errors(403, 404, 409)},
        summary="Create the next version (active in development at once)",
    )
    def post(self, request: Request) -> Response:
        data = validated(VersionCreateInput, request.data)
        fields = data.get("data", {})
        with errors_under("data"):
            version = create_version_live_in_development(
                actor=acting_user(request),
                template_id=data["templateId"],
                definition=DefinitionInput.fields_of(fields),
                metadata=fields.get("metadata"),
                bump=Bump.from_label(fields["bump"]) if "bump" in fields else None,
                include_environment=fields.get("environment"),
                refresh_includes=data["refreshIncludes"],
            )
        return Response(version_detail(version_by_id(version.pk)), status=status.HTTP_201_CREATED)


class VersionDetailApi(APIView):
    @extend_schema(
        responses={200: VersionDetailOutput, **errors(404)},
        summary="A version, where it may be deployed and where it serves",
    )
    def get(self, request: Request, version_id: UUID) -> Response:
        return Response(version_detail(version_by_id(version_id)))
