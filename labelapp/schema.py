"""OpenAPI schema adjustments (drf-spectacular), so that `/api/schema/` is what clients and
the API fuzzer can trust and `manage.py check --deploy` (which builds it) stays quiet."""

from __future__ import annotations

import functools

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class HeldSessionScheme(SessionScheme):
    """The session's cookie, as DRF's own (the hold on a first password is no scheme)."""

    target_class = "labelapp.authentication.HeldSessionAuthentication"


class BasicTokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """The Label Studio endpoints take HTTP basic auth (password or API token)."""

    target_class = "ml_backend.label_studio.BasicTokenAuthentication"
    name = "basicAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "basic"}


class ApiTokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """Personal API tokens: `Authorization: Bearer <key>` (or `Token <key>`)."""

    target_class = "labelapp.authentication.ApiTokenAuthentication"
    name = "bearerAuth"
    optional = True  # the module may not exist in every checkout

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer"}


def paginated(name: str, serializer_class):
    """The response schema of a `PageNumberPagination` page of `serializer_class` items."""
    from drf_spectacular.utils import inline_serializer
    from rest_framework import serializers

    return inline_serializer(
        name,
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer_class(many=True),
        },
    )


def drop_duplicate_routes(endpoints):
    """Routes served twice for old clients (with and without a trailing slash; Label Studio's
    project-less `/ml/...` beside `/ml/{project_id}/...`) appear once in the schema: two
    operations of one view otherwise collide on their operation ids."""
    chosen: dict[tuple, tuple] = {}
    for endpoint in endpoints:
        path, _regex, method, callback = endpoint
        canonical = path.rstrip("/")
        if canonical.startswith("/ml/"):
            canonical = canonical.replace("/{project_id}", "")
        key = (getattr(callback, "cls", callback), method, canonical)
        # The project-scoped, slash-ended form is the one documented.
        if key not in chosen or len(path) > len(chosen[key][0]):
            chosen[key] = endpoint
    kept = {id(e) for e in chosen.values()}
    return [e for e in endpoints if id(e) in kept]


ERROR_SCHEMA = {
    "type": "object",
    "description": "`detail` says what went wrong; `code` names it for programs. Validation "
    "errors (400) also carry a list of messages per field, under the field's name.",
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    "additionalProperties": True,
}
# Answers any operation may give, whatever its own schema lists (the exception handler in
# labelapp/errors.py maps domain errors and database outages to these).
ERROR_RESPONSES = {
    "400": "Invalid input: the message says which and why.",
    "401": "Not authenticated.",
    "403": "Authenticated, but your role in the project does not allow this.",
    "404": "No such object, or it belongs to a project you are not a member of.",
    "405": "Method not allowed.",
    "406": "The Accept header asks for a format this endpoint does not give.",
    "409": "Conflict with the current state (stale version, job already running).",
    "415": "Unsupported request content type.",
    "416": "Range not satisfiable.",
    "429": "Too many requests.",
    "503": "The database is unavailable for a moment; retry after `Retry-After` seconds.",
}


def document_error_responses(result, generator, request, public):
    """Every operation documents the error answers it can give, with one error schema."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            for parameter in operation.get("parameters", []):
                # Django's <int:...> converter matches digits only: "-1" is no route at all.
                if parameter.get("in") == "path" and parameter["schema"].get("type") == "integer":
                    parameter["schema"].setdefault("minimum", 0)
            responses = operation.setdefault("responses", {})
            for code, description in ERROR_RESPONSES.items():
                responses.setdefault(
                    code,
                    {"description": description, "content": {"application/json": {"schema": ref}}},
                )
    return result


@functools.cache  # one component: two inline serializers of one name collide in the schema
def error_schema():
    """An error's body, as every refusal answers (labelapp.errors): `detail` in words, `code`
    for programs, and what the error names (a 409 of a training running names its `run`)."""
    from drf_spectacular.utils import inline_serializer
    from rest_framework import serializers

    return inline_serializer(
        "Error",
        {
            "detail": serializers.CharField(),
            "code": serializers.CharField(),
            "run": serializers.IntegerField(required=False, help_text="a 409's running job"),
        },
    )
