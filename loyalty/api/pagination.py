"""Cursor pagination for every list: stable under inserts, opaque cursors, `limit` up to 200."""

from rest_framework.pagination import CursorPagination


class ApiCursorPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200
    ordering = "-pk"
