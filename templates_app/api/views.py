"""Templates and versions over HTTP: parse, call a service or selector, serialize. No rules here."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import django_filters
from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from lifecycle.core.api.inputs import errors_under, validated
from lifecycle.core.exceptions import InvalidInput
from templates_app import live_state
from templates_app.api.serializers import (
    DefinitionInput,
    TemplateCreateInput,
    TemplateDetailOutput,
    TemplateOutput,
    VersionCreateInput,
    VersionDiffOutput,
    VersionOutput,
)
from templates_app.diff import diff_versions
from templates_app.models import Category, PromptTemplate, TemplateVersion
from templates_app.selectors import template_by_id, templates_for_listing, version_before, version_by_id, versions_of
from templates_app.semver import Bump
from templates_app.services import create_template, create_version


def template_detail(template: PromptTemplate) -> dict[str, Any]:
    context = {"versions": versions_of(template.pk), "live": live_state.current().for_template(template.pk)}
    return TemplateDetailOutput(template, context=context).data  # type: ignore[return-value]


def version_detail(version: TemplateVersion) -> dict[str, Any]:
    context = {"live": live_state.current().for_versions([version.pk])}
    return VersionOutput(version, context=context).data  # type: ignore[return-value]


class TemplateFilter(django_filters.FilterSet):
    category = django_filters.ChoiceFilter(choices=Category.choices)
    tag = django_filters.CharFilter(field_name="tags__name", label="tag name, exactly")
    search = django_filters.CharFilter(method="search_text", label="words in the name or description")

    class Meta:
        model = PromptTemplate
        fields = ["category", "tag", "search"]

    def search_text(self, queryset: QuerySet[PromptTemplate], name: str, value: str) -> QuerySet[PromptTemplate]:
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))


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
        responses={201: TemplateDetailOutput},
        summary="Create a template and its first version",
        filters=False,
    )
    def post(self, request: Request) -> Response:
        data = validated(TemplateCreateInput, request.data)
        template = create_template(
            actor=request.user,
            name=data["name"],
            description=data["description"],
            category=data["category"],
            tags=data["tags"],
            metadata=data["metadata"],
            definition=DefinitionInput.fields_of(data),
        )
        return Response(template_detail(template_by_id(template.pk)), status=status.HTTP_201_CREATED)


class TemplateDetailApi(APIView):
    @extend_schema(responses=TemplateDetailOutput, summary="A template, its latest version and what is live")
    def get(self, request: Request, template_id: UUID) -> Response:
        return Response(template_detail(template_by_id(template_id)))


class VersionCreateApi(APIView):
    @extend_schema(request=VersionCreateInput, responses={201: VersionOutput}, summary="Create the next version")
    def post(self, request: Request) -> Response:
        data = validated(VersionCreateInput, request.data)
        fields = data["data"]
        with errors_under("data"):
            version = create_version(
                actor=request.user,
                template_id=data["templateId"],
                definition=DefinitionInput.fields_of(fields),
                metadata=fields["metadata"],
                bump=Bump.from_label(fields["bump"]) if "bump" in fields else None,
            )
        return Response(version_detail(version_by_id(version.pk)), status=status.HTTP_201_CREATED)


class VersionDetailApi(APIView):
    @extend_schema(responses=VersionOutput, summary="A version")
    def get(self, request: Request, version_id: UUID) -> Response:
        return Response(version_detail(version_by_id(version_id)))


class VersionDiffApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("against", UUID, description="another version of the template (default: the one before)")
        ],
        responses=VersionDiffOutput,
        summary="What changed between two versions",
    )
    def get(self, request: Request, version_id: UUID) -> Response:
        version = version_by_id(version_id)
        against_id = request.query_params.get("against")
        if against_id is None:
            against = version_before(version)
        else:
            try:
                against = version_by_id(UUID(against_id))
            except ValueError:
                raise InvalidInput.at("against", "must be a version id (a UUID)") from None
        return Response(VersionDiffOutput(diff_versions(against, version)).data)
