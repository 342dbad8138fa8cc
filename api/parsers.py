"""The API's one body parser: JSON, refused with a 400 when nested too deep or carrying a NUL character.

Size is capped before parsing (loyalty/limits.py answers 413 above `API_MAX_BODY_BYTES`); depth is capped here,
because Python's decoder recurses and a body of a few kilobytes can nest thousands of levels (issue 17, item 27).
NUL characters anywhere in the body, keys included, are refused here once for every endpoint (item 26).
"""

from typing import Any

from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser

from loyalty.inputs import JSON_MAX_DEPTH, json_problems


class BoundedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as error:
            message = _("The JSON is nested more than %(depth)s levels deep.") % {"depth": JSON_MAX_DEPTH}
            raise ParseError(message) from error
        problems = json_problems(data)
        if problems:
            raise ValidationError(problems)
        return data
