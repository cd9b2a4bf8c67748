"""A DRF test client that authenticates the way integrations do: `Authorization: Token <key>`."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework.test import APIClient

from lifecycle.core.tokens.keys import digest_of
from lifecycle.core.tokens.models import ApiToken
from lifecycle.core.tokens.services import free_name, issue_token
from lifecycle.testing.factories import TemplatePayloadFactory

# Keys made for tests, by user id: a key cannot be read back from the database (only its digest is kept).
# A test's rows are rolled back after it, so a remembered key is used again only while its token exists.
_keys: dict[int, str] = {}


def api_key_for(user: Any) -> str:
    """A working API key of `user`: the one made earlier in this test, or a new token's (as if just used)."""
    key = _keys.get(user.pk)
    if key is None or not ApiToken.objects.filter(digest=digest_of(key), user=user, revoked_at__isnull=True).exists():
        token, key = issue_token(owner=user, name=free_name(user, "test"))
        # Marked used: a token's first use also records it (authentication.LAST_USED_RESOLUTION), which would
        # make a test's first request cost more queries than the ones it compares with.
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        _keys[user.pk] = key
    return key


class Api:
    def __init__(self) -> None:
        self.client = APIClient()

    def as_user(self, user: Any) -> Api:
        self.client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(user)}")
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
