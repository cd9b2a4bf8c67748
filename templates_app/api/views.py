"""The endpoints that need only templates and versions: parse, call a selector, serialize.

Creating templates and versions, and showing them with what is live where, are endpoints of
lifecycle.releases (a new version is active in development at once, which this app cannot know).
"""

from __future__ import annotations

from uuid import UUID

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from lifecycle.core.api.inputs import validated
from lifecycle.core.api.schema import errors
from lifecycle.core.exceptions import InvalidInput
from lifecycle.core.roles import acting_user
from templates_app.api.serializers import MaintainersInput, MaintainersOutput, VersionDiffOutput, maintainers_json
from templates_app.diff import diff_versions
from templates_app.selectors import template_row, version_before, version_by_id
from templates_app.services import set_maintainers


class VersionDiffApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("against", UUID, description="another version of the template (default: the one before)")
        ],
        responses={200: VersionDiffOutput, **errors(404)},
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


class MaintainersApi(APIView):
    @extend_schema(responses={200: MaintainersOutput, **errors(404)}, summary="Who maintains a template")
    def get(self, request: Request, template_id: UUID) -> Response:
        return Response(maintainers_json(template_row(template_id)))

    @extend_schema(
        request=MaintainersInput,
        responses={200: MaintainersOutput, **errors(403, 404)},
        summary="Replace who maintains a template (its maintainers or a superuser; at least one stays)",
    )
    def put(self, request: Request, template_id: UUID) -> Response:
        data = validated(MaintainersInput, request.data)
        set_maintainers(
            actor=acting_user(request), template_id=template_id, usernames=data["users"], group_names=data["groups"]
        )
        return Response(maintainers_json(template_row(template_id)))
