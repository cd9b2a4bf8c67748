"""A DRF test client that authenticates the way integrations do: `Authorization: Token <key>`."""

from __future__ import annotations

from typing import Any

from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from lifecycle.testing.factories import TemplatePayloadFactory


class Api:
    def __init__(self) -> None:
        self.client = APIClient()

    def as_user(self, user: Any) -> Api:
        token, _ = Token.objects.get_or_create(user=user)
        self.client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return self

    def anonymous(self) -> Api:
        self.client.credentials()
        return self

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: Any = None, **kwargs: Any) -> Any:
        return self.client.post(path, data, format="json", **kwargs)

    def put(self, path: str, data: Any = None, **kwargs: Any) -> Any:
        return self.client.put(path, data, format="json", **kwargs)

    def patch(self, path: str, data: Any = None, **kwargs: Any) -> Any:
        return self.client.patch(path, data, format="json", **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.client.delete(path, **kwargs)

    def raw(self, method: str, path: str, body: bytes, content_type: str = "application/json") -> Any:
        return self.client.generic(method, path, body, content_type=content_type)


def create_template_over_api(api: Api, user: Any, **overrides: Any) -> dict[str, Any]:
    """POST /api/templates as `user` (TemplatePayloadFactory's payload with `overrides`); the created template."""
    response = api.as_user(user).post("/api/templates", TemplatePayloadFactory(**overrides))
    assert response.status_code == 201, response.json()
    return response.json()


def create_version_over_api(api: Api, user: Any, template_id: str, **data: Any) -> Any:
    """POST /api/versions/create as `user`, with `data` as the new version's fields; the response."""
    return api.as_user(user).post("/api/versions/create", {"templateId": template_id, "data": data})
