"""OpenAPI details drf-spectacular cannot guess: the API key scheme and the error responses of every operation."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema

from api.serializers import ErrorSerializer

# Every operation can answer these; writes can also meet a conflict, a reused idempotency key or a wrong body type.
COMMON_ERRORS = ("400", "401", "403", "404", "406", "429")
WRITE_ERRORS = ("409", "415", "422")


class ApiAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction: str = "response") -> dict:
        responses = super()._get_response_bodies(direction)
        codes = COMMON_ERRORS + (WRITE_ERRORS if self.method in {"POST", "PUT", "PATCH", "DELETE"} else ())
        for code in codes:
            responses.setdefault(code, self._get_response_for_code(ErrorSerializer, code, direction=direction))
        return responses

    def get_tags(self) -> list[str]:
        """Group operations by their first path segment after /api/v1/ (partners, ledger, redemptions…)."""
        segments = [segment for segment in self.path.split("/") if segment and not segment.startswith("{")]
        return [segments[2] if len(segments) > 2 else "api"]


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "`Authorization: Bearer tl_<prefix>_<secret>`: a key of this program, with the scopes "
            "each operation names.",
        }
