from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    """DRF-style pages (`count`, `next`, `previous`, `results`), `?page=` and `?pageSize=` up to 200."""

    page_size_query_param = "pageSize"
    max_page_size = 200
