"""``/openapi.json`` generated from the same schemas the views use, and ``/docs``.

The document is OpenAPI 3.1, which lets a non-OAuth2 security scheme list
the scopes an operation needs: ``security: [{"bearerAuth":
["read:transactions"]}]``. Every error response is documented with the one
error schema. ``/docs`` is Swagger UI from the assets flask-swagger-ui ships,
so it loads with no internet access.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask_smorest import Api
from flask_swagger_ui import get_swaggerui_blueprint

from cashman.schemas import ErrorOut, MessageOut
from cashman.scopes import READ, WRITE

DOCS_URL = "/docs"
SPEC_URL = "/openapi.json"
UNDOCUMENTED_BLUEPRINTS = {"docs"}
# validatorUrl null: Swagger UI's default sends the spec URL to validator.swagger.io from
# any host but localhost, which leaks it and breaks the docs offline
SWAGGER_UI_CONFIG: dict[str, Any] = {"app_name": "Cashman API", "validatorUrl": None}
DESCRIPTION = f"""Personal incomes and expenses behind Auth0 access tokens (RS256 JWT Bearer).

- Scopes: `{READ}` for every GET of transaction data, `{WRITE}` for
  POST, PATCH and DELETE (from `scope` or `permissions`). `/secured/ping` needs a valid token.
- Amounts are exact JSON numbers with two decimals (`0.30`), greater than 0 and at most
  1000000000 with at most two decimal places. Strings (`"12.5"`), booleans, NaN and Infinity
  are refused (422). Expenses are stored and returned negative whether sent as 20 or -20.
- Descriptions are trimmed, then 1-200 characters, without control characters.
- Ids are integers, never reused. `created_at` is UTC ISO 8601 with microseconds.
- Lists are newest first, `?limit=` 1-500 (default 50); follow `Link: <...>; rel="next"`
  (its `cursor` is opaque). Unknown query parameters are ignored.
- `POST` with `Idempotency-Key` (1-255 visible ASCII characters): a retry within 24 h returns
  the first response and creates nothing; the same key with a different body is 422
  `idempotency_key_reused`. Keys are per user.
- Bodies: `application/json` (or `application/*+json`, UTF-8) only (415), at most 64 KiB (413),
  a JSON object (400). Every error is `{{"code", "description"}}`.
"""

_ERRORS: dict[int, tuple[str, dict[str, str]]] = {
    400: ("Malformed request, Authorization header or JSON body", {}),
    401: ("Missing or invalid access token", {"WWW-Authenticate": "Bearer challenge"}),
    403: ("The token lacks the scope", {"WWW-Authenticate": "Bearer challenge with scope"}),
    404: ("No such transaction for this caller", {}),
    413: ("Body over 64 KiB", {}),
    415: ("Body is not application/json", {}),
    422: ("Validation failed; `errors` names the fields", {}),
    503: ("Database or key set unavailable", {"Retry-After": "Seconds to wait"}),
}


class CashmanApi(Api):
    """flask-smorest ``Api`` with the API's error schema; errors.py handles the errors."""

    ERROR_SCHEMA = ErrorOut

    def _register_error_handlers(self) -> None:
        """Leave error handling to ``cashman.errors`` (one shape for every error)."""

    def _register_pagination_header(self) -> None:
        """No page-number pagination here (lists use ``Link``): no ``PaginationMetadata``."""


def init_api(app: Flask) -> CashmanApi:
    """Create the ``Api`` serving ``/openapi.json``, with security and error components."""
    app.config.update(
        API_TITLE="Cashman",
        API_VERSION="1.0",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH=SPEC_URL.lstrip("/"),
    )
    api = CashmanApi(
        app,
        spec_kwargs={"info": {"description": DESCRIPTION}},
    )
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    for status, (description, headers) in _ERRORS.items():
        api.spec.components.response(
            f"E{status}",
            {
                "description": description,
                "content": {"application/json": {"schema": ErrorOut}},
                "headers": {
                    name: {"description": text, "schema": {"type": "string"}}
                    for name, text in headers.items()
                },
            },
        )
    return api


def init_docs(app: Flask) -> None:
    """Swagger UI at ``/docs`` (and ``/docs/``) from local assets, reading ``/openapi.json``."""
    app.register_blueprint(
        get_swaggerui_blueprint(DOCS_URL, SPEC_URL, config=SWAGGER_UI_CONFIG, blueprint_name="docs")
    )
    app.add_url_rule(DOCS_URL, endpoint="docs.show")


def document_plain_routes(api: CashmanApi, app: Flask) -> None:
    """Add the routes of plain Flask blueprints (``/ping``...) to the document."""
    documented = set(api.spec.to_dict().get("paths", {}))
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.rpartition(".")[0]
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        if rule.endpoint == "static" or blueprint in UNDOCUMENTED_BLUEPRINTS:
            continue
        if path in documented:
            continue
        view = app.view_functions[rule.endpoint]
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        operations = {m.lower(): _operation(view, path) for m in methods}
        api.spec.path(rule=rule, operations=operations, parameters=[])
        documented.add(path)


_READY = {
    "type": "object",
    "properties": {"status": {"type": "string", "enum": ["ready"]}},
    "required": ["status"],
    "additionalProperties": False,
}


def _operation(view: Any, path: str) -> dict[str, Any]:
    summary = (view.__doc__ or path).strip().splitlines()[0]
    if path == SPEC_URL:
        return {"summary": summary, "responses": {"200": {"description": "This document"}}}
    # /readyz answers {"status": "ready"}, the other plain routes {"message": ...}
    body = _READY if path == "/readyz" else MessageOut
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": {
            "200": {
                "description": "OK",
                "content": {"application/json": {"schema": body}},
            },
            "503": {"$ref": "#/components/responses/E503"},
        },
    }
    if path.startswith("/secured/"):
        operation["security"] = [{"bearerAuth": []}]
        for status in (400, 401):
            operation["responses"][str(status)] = {"$ref": f"#/components/responses/E{status}"}
    return operation
