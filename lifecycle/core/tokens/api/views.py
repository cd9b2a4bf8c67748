"""API tokens over HTTP (`/api/tokens`): everyone manages their own, superusers everyone's. Thin views over
the services."""

from __future__ import annotations

from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from lifecycle.core.api.credentials import Credential
from lifecycle.core.api.inputs import validated
from lifecycle.core.api.schema import errors
from lifecycle.core.roles import acting_user
from lifecycle.core.tokens import selectors, services
from lifecycle.core.tokens.api.serializers import TokenInput, TokenListQuery, TokenOutput, TokenWithKeyOutput


def acting_token_id(request: Request) -> str | None:
    """The id of the token the request authenticated with, or None (a signed-in session)."""
    return request.auth.token_id if isinstance(request.auth, Credential) else None


class TokenListApi(APIView):
    @extend_schema(
        parameters=[TokenListQuery],
        responses={200: TokenOutput(many=True), **errors(403, 404)},
        summary="Your API tokens, newest first, revoked ones too (a superuser: anyone's, by ?username=)",
    )
    def get(self, request: Request) -> Response:
        query = validated(TokenListQuery, request.query_params)
        tokens = selectors.tokens_of(acting_user(request), username=query.get("username"))
        return Response(TokenOutput(tokens, many=True).data)

    @extend_schema(
        request=TokenInput,
        responses={201: TokenWithKeyOutput, **errors(403, 409)},
        summary="A new API token of yours (the key is in this answer only); from a signed-in session: a token "
        "cannot make tokens (403)",
    )
    def post(self, request: Request) -> Response:
        body = validated(TokenInput, request.data)
        token, key = services.create_token(
            actor=acting_user(request),
            name=body["name"],
            expires_at=body.get("expiresAt"),
            acting_token_id=acting_token_id(request),
        )
        return Response({**TokenOutput(token).data, "key": key}, status=status.HTTP_201_CREATED)


class TokenDetailApi(APIView):
    @extend_schema(responses={200: TokenOutput, **errors(404)}, summary="One of your API tokens")
    def get(self, request: Request, token_id: UUID) -> Response:
        return Response(TokenOutput(selectors.token_for(acting_user(request), token_id)).data)


class RevokeTokenApi(APIView):
    @extend_schema(
        request=None,
        responses={200: TokenOutput, **errors(403, 404)},
        summary="Revoke a token: refused from the next request on, everywhere; kept, for access reviews (with a "
        "token: that token only, 403 for another)",
    )
    def post(self, request: Request, token_id: UUID) -> Response:
        revoked = services.revoke_token(
            actor=acting_user(request), token_id=token_id, acting_token_id=acting_token_id(request)
        )
        return Response(TokenOutput(revoked).data)
