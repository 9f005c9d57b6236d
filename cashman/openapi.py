"""The OpenAPI 3.1 document, made from the declarations of the blueprints (SPEC §4).

Every route is declared on a flask-smorest blueprint, so its summary, parameters,
bodies, answers and security requirement come from the same schemas and
decorators the views use; nothing is documented by hand. OpenAPI 3.1 lets a
non-OAuth2 security scheme list the scopes an operation needs (``security:
[{"bearerAuth": ["read:transactions"]}, {"dpopAuth": ["read:transactions"]}]``:
either scheme). Which schemes the document offers follows ``AUTH_DPOP`` (SPEC
§3a): both, DPoP only (``required``) or Bearer only (``off``); an apispec plugin
(``OfferedSchemes``, apispec's public ``operation_helper`` hook) drops the others.
Every error answer is documented with the one error schema, and reaches the one
error handler of ``cashman.errors`` through flask-smorest's public hook,
``handle_http_exception``.
"""

from __future__ import annotations

from typing import Any

from apispec import BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin, resolver
from apispec.ext.marshmallow.common import resolve_schema_cls
from flask import Flask, Response
from flask_smorest import Api
from flask_smorest.pagination import PaginationMetadataSchema
from werkzeug.exceptions import HTTPException

from cashman import errors
from cashman.schemas import ErrorOut
from cashman.scopes import READ, WRITE

SECURITY_SCHEME = "bearerAuth"
DPOP_SECURITY_SCHEME = "dpopAuth"
# the security scheme of each Authorization scheme (auth.bearer's names)
SECURITY_SCHEMES = {"Bearer": SECURITY_SCHEME, "DPoP": DPOP_SECURITY_SCHEME}
DPOP_DESCRIPTION = (
    "A DPoP-bound access token (RFC 9449), a JWT (RFC 9068): `Authorization: DPoP <token>` "
    "and a `DPoP: <proof>` "
    "header, a JWT signed for this one request by the key the token's `cnf.jkt` names "
    "(`htm`, `htu`, `iat`, `jti`, `ath`; `nonce` when the API sends `DPoP-Nonce`). "
    "Proof algorithms: {algs}."
)
DESCRIPTION = f"""Personal incomes and expenses behind Auth0 access tokens (RS256 JWT, as Bearer
tokens or DPoP-bound ones).

- Scopes: `{READ}` for every GET of transaction data, `{WRITE}` for
  POST, PATCH and DELETE (from `scope` or `permissions`). `/secured/ping` needs a valid token.
- Amounts are exact JSON numbers with two decimals (`0.30`), greater than 0 and at most
  1000000000 with at most two decimal places. Strings (`"12.5"`), booleans, NaN and Infinity
  are refused (422). Expenses are stored and returned negative whether sent as 20 or -20.
- Descriptions are trimmed, then 1-200 characters, without control characters.
- Ids are integers, never reused. `created_at` is UTC ISO 8601 with microseconds.
- Lists are newest first, `?limit=` 1-500 (default 50); follow `Link: <...>; rel="next"`
  (its `cursor` is opaque). Unknown query parameters are ignored.
- `POST` with `Idempotency-Key` (1-255 visible ASCII characters, no comma): a retry within
  24 h returns the first response and creates nothing; the same key with a different body
  is 422 `idempotency_key_reused`. Keys are per user.
- Bodies: `application/json` (or `application/*+json`, UTF-8) without a content coding only
  (415), at most 64 KiB (413), well-formed JSON (400 `invalid_json`) holding an object (422
  `validation_error`, under `_schema`). Every error is `{{"code", "description"}}`.
- With server nonces on, every answer to a DPoP request carries `DPoP-Nonce`, the nonce the
  next proof must carry.
"""

# status -> (description, headers it carries): the error answers operations refer to
ERROR_RESPONSES: dict[int, tuple[str, dict[str, str]]] = {
    400: (
        "Malformed request, Authorization header or JSON body",
        {
            "WWW-Authenticate": "For a malformed Authorization header: the challenge of the "
            "scheme used, with error=invalid_request (RFC 6750 §3.1)"
        },
    ),
    401: (
        "Missing or invalid access token or DPoP proof",
        {
            "WWW-Authenticate": "Bearer and/or DPoP challenges (RFC 6750 §3, RFC 9449 §7.1)",
            "DPoP-Nonce": "The nonce the next DPoP proof must carry (use_dpop_nonce)",
        },
    ),
    403: (
        "The token lacks the scope",
        {"WWW-Authenticate": "The challenge of the scheme used, with scope"},
    ),
    404: ("No such transaction for this caller", {}),
    411: ("Chunked body without its last chunk", {}),
    413: ("Body over 64 KiB", {}),
    415: (
        "Body is not application/json, or has a content coding (gzip...)",
        {
            "Accept": "The media type taken (application/json), when that was the problem",
            "Accept-Encoding": "identity, when a content coding was the problem",
            "Accept-Patch": "The patch format taken (application/json), on a PATCH",
        },
    ),
    422: ("Validation failed; `errors` names the fields", {}),
    503: (
        "Database, key set or DPoP replay store unavailable",
        {"Retry-After": "Seconds to wait"},
    ),
}


def error_component(status: int) -> str:
    """The name of the documented error answer for ``status`` (one of ``ERROR_RESPONSES``)."""
    return f"E{status}"


class CashmanApi(Api):
    """flask-smorest ``Api`` documenting errors with ``ErrorOut`` and answering them
    through ``cashman.errors``. Constructed like ``Api`` (``app``, ``spec_kwargs``)."""

    ERROR_SCHEMA = ErrorOut

    def handle_http_exception(self, error: HTTPException) -> Response:  # type: ignore[override]
        """Any HTTP error, ours or the framework's, in the one JSON error shape."""
        return errors.handle_http_exception(error)


def schema_name(schema: Any) -> str | None:
    """The component name of a schema: apispec's, except for flask-smorest's page-number
    pagination metadata. flask-smorest registers it (for its ``X-Pagination`` header)
    whether or not a view paginates; these lists page with ``Link``. No name inlines it
    into that header, which nothing references, so the document does not carry it."""
    if resolve_schema_cls(schema) is PaginationMetadataSchema:
        return None
    return resolver(schema)


class SchemaKeywords(BasePlugin):
    """Adds the JSON Schema keywords a schema names in ``Meta.json_schema_keywords`` to its
    component: the ones apispec cannot derive from its fields (``minProperties`` of a
    change that needs at least one)."""

    def schema_helper(self, name: str, definition: dict, **kwargs: Any) -> dict | None:
        """apispec's hook, after the marshmallow plugin built ``definition``."""
        schema = kwargs.get("schema")
        meta = getattr(resolve_schema_cls(schema), "Meta", None) if schema is not None else None
        keywords = getattr(meta, "json_schema_keywords", None)
        return dict(keywords) if keywords else None


class OfferedSchemes(BasePlugin):
    """Keeps, in each operation's ``security``, the requirements of the offered schemes only."""

    def __init__(self, offered: tuple[str, ...]) -> None:
        """``offered``: security scheme names (``SECURITY_SCHEMES`` values) to keep."""
        super().__init__()
        self.offered = frozenset(offered)

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        """apispec's hook, called once per path with its operations: filter ``security``."""
        for operation in (operations or {}).values():
            if isinstance(operation, dict) and "security" in operation:
                operation["security"] = [
                    requirement
                    for requirement in operation["security"]
                    if set(requirement) <= self.offered
                ]


def init_api(
    app: Flask,
    schemes: tuple[str, ...] = ("Bearer",),
    dpop_algorithms: tuple[str, ...] = ("ES256",),
    base_url: str | None = None,
) -> CashmanApi:
    """The ``Api`` of ``app``, with the security schemes of ``schemes`` (the accepted
    ``Authorization`` schemes, ``DPoPSettings.schemes``) and the error answers.
    ``dpop_algorithms``: the proof algorithms the DPoP scheme's description names.
    ``base_url``: ``API_BASE_URL``, the document's one server (OpenAPI 3.1 §4.8.5), so
    clients and the docs page call the API under its path; None leaves the default
    (the document's own host)."""
    app.config.update(API_TITLE="Cashman", API_VERSION="1.0", OPENAPI_VERSION="3.1.0")
    plugin = MarshmallowPlugin(schema_name_resolver=schema_name)
    offered = tuple(SECURITY_SCHEMES[scheme] for scheme in schemes)
    spec_kwargs = {
        "info": {"description": DESCRIPTION},
        "marshmallow_plugin": plugin,
        "extra_plugins": [SchemaKeywords(), OfferedSchemes(offered)],
    }
    if base_url is not None:
        spec_kwargs["servers"] = [{"url": base_url}]
    api = CashmanApi(app, spec_kwargs=spec_kwargs)
    if SECURITY_SCHEME in offered:
        api.spec.components.security_scheme(
            SECURITY_SCHEME, {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        )
    if DPOP_SECURITY_SCHEME in offered:
        description = DPOP_DESCRIPTION.format(algs=", ".join(dpop_algorithms))
        api.spec.components.security_scheme(
            DPOP_SECURITY_SCHEME,
            # OpenAPI 3.1 allows bearerFormat only with scheme bearer: the description says JWT
            {"type": "http", "scheme": "DPoP", "description": description},
        )
    for status, (description, headers) in ERROR_RESPONSES.items():
        api.spec.components.response(
            error_component(status),
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
