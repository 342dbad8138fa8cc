"""Cursor pagination for every list: stable under inserts, opaque cursors, `limit` up to 200."""

from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request

from loyalty.inputs import ascii_whole_number


class ApiCursorPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200
    ordering = "-pk"

    def get_page_size(self, request: Request) -> int:
        """A `limit` that is not a whole number from 1 to 200 in the digits 0-9 is refused (DRF would quietly use the
        default; `int()` would read "٣" as 3)."""
        value = request.query_params.get(self.page_size_query_param)
        if value is None:
            return self.page_size
        number = ascii_whole_number(value)
        if number is None or not 1 <= number <= self.max_page_size:
            message = _("Give a whole number from 1 to %(maximum)s.") % {"maximum": self.max_page_size}
            raise ValidationError({"limit": [message]})
        return number

    def get_schema_operation_parameters(self, view: object) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
        return parameters
