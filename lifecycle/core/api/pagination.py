from __future__ import annotations

from typing import Any

from rest_framework import pagination
from rest_framework.request import Request

from lifecycle.core.exceptions import InvalidInput


class PageNumberPagination(pagination.PageNumberPagination):
    """DRF-style pages (`count`, `next`, `previous`, `results`), `?page=` and `?pageSize=` from 1 to 200.

    A page size that is not a whole number from 1 to 200 is a 400 naming it (DRF would quietly use the
    default, so a client's mistake would go unnoticed); a page that is not one (past the last, 0, `x`,
    empty) is DRF's 404.
    """

    page_size_query_param = "pageSize"
    max_page_size = 200

    def get_page_size(self, request: Request) -> int | None:
        value = request.query_params.get(self.page_size_query_param)
        if value is None:
            return self.page_size
        if not value.isdigit() or not 1 <= int(value) <= self.max_page_size:
            raise InvalidInput.at(self.page_size_query_param, f"must be a whole number from 1 to {self.max_page_size}")
        return int(value)

    def get_page_number(self, request: Request, paginator: Any) -> Any:
        # An empty `?page=` is a page that does not exist (404), as `?page=x` is; DRF would read it as page 1.
        page_number = request.query_params.get(self.page_query_param, 1)
        return paginator.num_pages if page_number in self.last_page_strings else page_number

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update({"minimum": 1, "maximum": self.max_page_size, "default": self.page_size})
                parameter["description"] = f"results per page, 1 to {self.max_page_size} (default {self.page_size})"
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
                parameter["description"] = "a page number from 1 to the last (404 beyond)"
        return parameters
