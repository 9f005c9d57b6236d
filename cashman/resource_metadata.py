"""``GET /.well-known/oauth-protected-resource``: how a client gets a token (SPEC §3b, RFC 9728).

Public, like ``/ping``. The document is ``auth.resource_metadata``'s for the resource
``API_BASE_URL``; when that URL has a path, it is also served at the well-known path
with that path appended (RFC 9728 §3.1), and only there. Without ``API_BASE_URL`` the
development server describes the request's own URL; a production entry answers 404
(it has no trustworthy URL to name).
"""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import Schema, fields
from werkzeug.exceptions import NotFound

from auth.decorators import current_auth
from auth.resource_metadata import WELL_KNOWN_PATH, metadata_document, resource_path
from cashman.blueprint import Blueprint
from cashman.docs import DOCS_URL
from cashman.openapi import error_component
from cashman.scopes import READ, WRITE

bp = Blueprint("resource_metadata", __name__, description="How to get a token for this API.")


class ResourceMetadataOut(Schema):
    """RFC 9728 §2: the protected resource metadata of this API."""

    resource = fields.String(required=True)
    authorization_servers = fields.List(fields.String(), required=True)
    scopes_supported = fields.List(fields.String(), required=True)
    bearer_methods_supported = fields.List(fields.String(), required=True)
    dpop_signing_alg_values_supported = fields.List(fields.String())
    dpop_bound_access_tokens_required = fields.Boolean(required=True)
    resource_documentation = fields.String(required=True)


@bp.get(WELL_KNOWN_PATH)
@bp.alt_response(404, response=error_component(404))
@bp.alt_response(200, schema=ResourceMetadataOut, success=True)
def get_metadata() -> dict[str, Any]:
    """The protected resource metadata of this API (RFC 9728)."""
    return _document(None)


@bp.get(f"{WELL_KNOWN_PATH}/<path:suffix>")
@bp.alt_response(404, response=error_component(404))
@bp.alt_response(200, schema=ResourceMetadataOut, success=True)
def get_metadata_for_path(suffix: str) -> dict[str, Any]:
    """The same document, at the URL RFC 9728 §3.1 builds from an API_BASE_URL with a path."""
    return _document(suffix)


def _document(suffix: str | None) -> dict[str, Any]:
    auth = current_auth()
    resource = auth.base_url(request)
    if resource is None:
        raise NotFound()
    if suffix is not None and "/" + suffix != resource_path(resource):
        raise NotFound()
    documentation = resource.rstrip("/") + DOCS_URL
    return metadata_document(auth.settings, resource, (READ, WRITE), documentation)
