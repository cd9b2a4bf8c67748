"""A DRF test client that authenticates the way integrations do: `Authorization: Token <key>`."""

from __future__ import annotations

from typing import Any

from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


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

    def raw(self, method: str, path: str, body: bytes, content_type: str = "application/json") -> Any:
        return self.client.generic(method, path, body, content_type=content_type)
